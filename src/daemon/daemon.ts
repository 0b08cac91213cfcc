import type { Logger } from 'pino';
import type { ShoalConfig } from '../config/types.ts';
import { buildRegistryApp } from '../http/app.ts';
import { Store } from '../store/index.ts';
import { UpstreamSet } from '../upstream/upstreams.ts';
import type { FastifyInstance } from 'fastify';
import { buildPeerApp } from '../http/peer-app.ts';
import { createMetrics } from '../http/metrics.ts';
import type { SwarmApi } from '../swarm/index.ts';
import { createRegistryServices } from './services.ts';
import { createStatusCollector } from './status.ts';
import packageJson from '../../package.json' with { type: 'json' };

const SHOAL_VERSION: string = packageJson.version;
import { createSwarmParts, tokenCheck, type SwarmParts } from './swarm-wiring.ts';

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
  const swarmParts = config.swarm.enabled ? await createSwarmParts(config.swarm, store.layout.root, store, logger) : undefined;
  // The services need the swarm object; it exists once started, so they get a late-bound view.
  const services = createRegistryServices({
    store,
    router,
    logger,
    tagTimeoutMs: config.tagTimeoutMs,
    maxUploadBytes: config.maxUploadBytes,
    ...(swarmParts ? { swarm: { api: lateSwarm(swarmParts), peers: swarmParts.peers } } : {}),
  });
  let peerUrl: string | undefined;
  const collectStatus = createStatusCollector({
    config,
    version: SHOAL_VERSION,
    startedAt: new Date(),
    listen: `${config.listen.host}:${config.listen.port}`,
    store,
    fetcher: services.fetcher,
    stats: services.stats,
    router,
    swarm: swarmParts ? lateSwarm(swarmParts) : undefined,
    peerUrl: () => peerUrl,
  });
  const app = buildRegistryApp({ ...services, status: collectStatus });
  let peerApp: FastifyInstance | undefined;
  if (swarmParts) {
    const metrics = createMetrics(services.stats, services.fetcher, lateSwarm(swarmParts));
    const isAuthorized = tokenCheck(swarmParts.clusterKey);
    peerApp = buildPeerApp({ store, fetcher: services.fetcher, stats: services.stats, metrics, logger, ...(isAuthorized ? { isAuthorized } : {}) });
    ({ peerUrl } = await swarmParts.start(peerApp));
    logger.info({ peerId: swarmParts.swarm.peerId, multiaddrs: swarmParts.swarm.multiaddrs, peerUrl, mdns: config.swarm.mdns, clusterKey: swarmParts.clusterKey !== undefined }, 'swarm started');
  }
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
      await peerApp?.close();
      await swarmParts?.stop();
      await router.close();
      logger.info('shoal stopped');
    },
  };
}

/** A SwarmApi that forwards to the swarm once it has started (services are built before it). */
function lateSwarm(parts: SwarmParts): SwarmApi {
  return new Proxy({} as SwarmApi, {
    get: (_target, property) => {
      const swarm = parts.swarm as unknown as Record<PropertyKey, unknown>;
      const value = swarm[property];
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(parts.swarm) : value;
    },
  });
}
