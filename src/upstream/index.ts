export * from './types.ts';
export * from './errors.ts';
export * from './auth.ts';
export * from './docker-credentials.ts';
export * from './health.ts';
export * from './transport.ts';
export * from './registry-client.ts';
export * from './upstreams.ts';
