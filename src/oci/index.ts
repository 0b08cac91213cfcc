export * from './errors.ts';
export * from './digest.ts';
export * from './name.ts';
export * from './reference.ts';
export * from './range.ts';
export * from './manifest.ts';
