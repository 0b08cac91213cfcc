import type { Logger } from 'pino';
import type { ShoalConfig } from '../config/types.ts';
import { buildRegistryApp } from '../http/app.ts';
import { Store } from '../store/index.ts';
import { UpstreamSet } from '../upstream/upstreams.ts';
import { createRegistryServices } from './services.ts';

/** Upload sessions untouched for this long are removed (registry:2 purges after a week; a day is plenty on a LAN). */
export const UPLOAD_MAX_AGE_MS = 24 * 60 * 60 * 1000;
const UPLOAD_PURGE_INTERVAL_MS = 60 * 60 * 1000;

export interface RunningDaemon {
  /** `http://host:port` the registry API listens on */
  readonly address: string;
  close(): Promise<void>;
}

/** Opens the store, recovers what a crash left, wires upstreams and the API, and listens. */
export async function startDaemon(config: ShoalConfig, logger: Logger): Promise<RunningDaemon> {
  const { store, removedTempFiles } = await Store.open(config.dataDir);
  if (removedTempFiles > 0) logger.warn({ removedTempFiles }, 'removed partial files left by an earlier crash; they were never served');
  const purgeUploads = async (): Promise<void> => {
    const purged = await store.uploads.purge(await store.repositories.repositories(), new Date(Date.now() - UPLOAD_MAX_AGE_MS));
    if (purged > 0) logger.info({ purged }, 'expired upload sessions removed');
  };
  await purgeUploads();

  const router = new UpstreamSet(config.upstreams, {
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    ...(config.dockerConfigPath !== undefined ? { dockerConfigPath: config.dockerConfigPath } : {}),
    onHealthChange: (url, state, lastError) => {
      if (state === 'down') logger.warn({ upstream: url, lastError }, 'upstream marked down after repeated failures; cached tags will be served');
      else logger.info({ upstream: url }, 'upstream is reachable again');
    },
  });
  const services = createRegistryServices({ store, router, logger, tagTimeoutMs: config.tagTimeoutMs, maxUploadBytes: config.maxUploadBytes });
  const app = buildRegistryApp(services);
  const timer = setInterval(() => void purgeUploads().catch((error: unknown) => logger.error({ err: error }, 'upload purge failed')), UPLOAD_PURGE_INTERVAL_MS);
  timer.unref();

  await app.listen({ host: config.listen.host, port: config.listen.port });
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound ? bound.port : config.listen.port;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const address = `http://${host}:${port}`;
  logger.info(
    { address, dataDir: store.layout.root, upstreams: config.upstreams.map((u) => u.url) },
    config.upstreams.length > 0 ? 'shoal is serving; pulls go through to the upstreams' : 'shoal is serving as a standalone registry (no upstream configured)',
  );
  return {
    address,
    close: async () => {
      clearInterval(timer);
      await app.close();
      await router.close();
      logger.info('shoal stopped');
    },
  };
}
