import type { Logger } from 'pino';
import type { ShoalConfig } from '../config/types.ts';
import { buildRegistryApp } from '../http/app.ts';
import { RegistryAuth } from '../http/auth.ts';
import { Evictor, Layout, Store, claimDaemonPid, daemonPidPath } from '../store/index.ts';
import { UpstreamSet } from '../upstream/upstreams.ts';
import { clientFactoryWithTls, tlsSettingsUnused, unverifiedUpstreams } from '../upstream/tls-clients.ts';
import type { FastifyInstance } from 'fastify';
import { buildPeerApp } from '../http/peer-app.ts';
import { buildMetricsApp } from '../http/metrics-app.ts';
import { createMetrics } from '../http/metrics.ts';
import { createRegistryServices } from './services.ts';
import { createStatusCollector } from './status.ts';
import { createSwarmParts } from './swarm-wiring.ts';
import { createPreheat } from './preheat-wiring.ts';
import packageJson from '../../package.json' with { type: 'json' };
import { formatHostPort } from '../lib/host-port.ts';

const SHOAL_VERSION: string = packageJson.version;

/** Upload sessions untouched for this long are removed (registry:2 purges after a week; a day is plenty on a LAN). */
export const UPLOAD_MAX_AGE_MS = 24 * 60 * 60 * 1000;
const UPLOAD_PURGE_INTERVAL_MS = 60 * 60 * 1000;
/** How often blob access times (eviction's LRU order) are written to the data directory. */
const ACCESS_TIMES_PERSIST_MS = 5 * 60 * 1000;

export interface RunningDaemon {
  /** `http://host:port` the registry API listens on */
  readonly address: string;
  close(): Promise<void>;
}

/** Opens the store, recovers what a crash left, wires upstreams and the API, and listens. */
export async function startDaemon(config: ShoalConfig, logger: Logger): Promise<RunningDaemon> {
  // Before the store opens: its recovery removes temp files, which under a running daemon are live.
  const claim = await claimDaemonPid(new Layout(config.dataDir));
  if ('other' in claim) {
    throw new Error(`another shoal daemon (pid ${claim.other}) is using ${config.dataDir}: stop it first, or give this one its own --data-dir (if none runs, remove ${daemonPidPath(new Layout(config.dataDir))})`);
  }
  const removePid = claim.release;
  const { store, removedTempFiles, warnings } = await Store.open(config.dataDir).catch(async (error: unknown) => {
    await removePid();
    throw error;
  });
  if (removedTempFiles > 0) logger.warn({ removedTempFiles }, 'removed partial files left by an earlier crash; they were never served');
  for (const warning of warnings) logger.warn(warning);
  const persistAccessTimes = (): Promise<void> => store.blobs.usage.persist().catch((error: unknown) => logger.warn({ err: error }, 'could not write blob access times'));
  const purgeUploads = async (): Promise<void> => {
    const purged = await store.uploads.purge(await store.repositories.repositories(), new Date(Date.now() - UPLOAD_MAX_AGE_MS));
    if (purged > 0) logger.info({ purged }, 'expired upload sessions removed');
  };
  await purgeUploads();

  for (const url of tlsSettingsUnused(config.upstreams)) logger.warn({ upstream: url }, 'TLS settings (ca, client certificate, skip-verify) given for an http:// upstream are not used: plain HTTP has no TLS; use its https:// URL or drop them');
  if (!config.swarm.enabled && (config.swarm.clusterKeyPath !== undefined || config.swarm.bootstrap.length > 0)) {
    logger.warn({ clusterKey: config.swarm.clusterKeyPath, bootstrap: config.swarm.bootstrap }, 'the swarm is off (--no-swarm): --cluster-key and --bootstrap are not used');
  }
  for (const url of unverifiedUpstreams(config.upstreams)) logger.warn({ upstream: url }, 'TLS certificate verification is OFF for this upstream (skip-verify): anyone on the network path can serve images in its name');
  const router = new UpstreamSet(config.upstreams, {
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    bodyIdleTimeoutMs: config.upstreamBodyTimeoutMs,
    createClient: clientFactoryWithTls(config.upstreams, config.dockerCertsDir),
    allowedRegistries: config.allowedRegistries,
    ...(config.dockerConfigPath !== undefined ? { dockerConfigPath: config.dockerConfigPath } : {}),
    onHealthChange: (url, state, lastError) => {
      if (state === 'down') logger.warn({ upstream: url, lastError }, 'upstream marked down after repeated failures; cached tags will be served');
      else logger.info({ upstream: url }, 'upstream is reachable again');
    },
  });
  for (const problem of router.dockerCredentialProblems) logger.warn({ dockerConfig: config.dockerConfigPath }, problem);
  // Every part is constructed first, then the listeners open, then the swarm starts (it learns the
  // data plane's port then), and the registry API opens last: a client never meets a half-started node.
  const swarmParts = config.swarm.enabled ? await createSwarmParts(config.swarm, store.layout.root, store, logger, (name) => router.qualifiedName(name)) : undefined;
  const services = createRegistryServices({
    store,
    router,
    logger,
    tagTimeoutMs: config.tagTimeoutMs,
    maxUploadBytes: config.maxUploadBytes,
    ...(swarmParts ? { swarm: { api: swarmParts.swarm, peers: swarmParts.peers } } : {}),
    fetcher: { pieceSize: config.swarm.pieceSize, rangeFetch: config.neighbour.rangeFetch },
    limits: config.neighbour,
    maxPeerServes: config.neighbour.maxPeerServes,
  });
  const caps = config.neighbour;
  if (caps.uploadBytesPerSecond > 0 || caps.downloadBytesPerSecond > 0 || caps.seedBytesPerSecond > 0) {
    logger.info({ uploadBytesPerSecond: caps.uploadBytesPerSecond, downloadBytesPerSecond: caps.downloadBytesPerSecond, seedBytesPerSecond: caps.seedBytesPerSecond }, 'bandwidth caps on (0 = no cap); changing one needs a restart');
  }
  let peerUrl: string | undefined;
  const collectStatus = createStatusCollector({
    config,
    version: SHOAL_VERSION,
    startedAt: new Date(),
    listen: `${config.listen.host}:${config.listen.port}`,
    store,
    fetcher: services.fetcher,
    stats: services.stats,
    slots: services.slots,
    router,
    swarm: swarmParts?.swarm,
    peerUrl: () => peerUrl,
  });
  const auth = config.auth.htpasswdPath !== undefined
    ? await RegistryAuth.open({ htpasswdPath: config.auth.htpasswdPath, anonymousPull: config.auth.anonymousPull, logger: logger.child({ part: 'auth' }) })
    : undefined;
  if (auth) logger.info({ htpasswd: config.auth.htpasswdPath, users: auth.users, anonymousPull: config.auth.anonymousPull }, 'registry API requires a login to push');
  const preheat = createPreheat({ store, manifests: services.manifests, fetcher: services.fetcher, swarm: swarmParts?.swarm, logger });
  const app = buildRegistryApp({ ...services, status: collectStatus, preheat: preheat.api }, auth ? { auth } : {});
  const evictor = config.disk.maxBytes > 0
    ? new Evictor(store, {
      maxBytes: config.disk.maxBytes,
      highWatermarkPercent: config.disk.highWatermarkPercent,
      lowWatermarkPercent: config.disk.lowWatermarkPercent,
      // Tagged images of repositories no upstream serves are kept: nothing could bring them back.
      canRefetch: (repository) => router.targets(repository).length > 0,
      logger: logger.child({ part: 'eviction' }),
    })
    : undefined;
  if (evictor) {
    // In the background: counting a large store's blobs must not delay serving.
    evictor.start().then(
      () => logger.info({ maxBytes: config.disk.maxBytes, highBytes: evictor.highBytes, lowBytes: evictor.lowBytes, blobBytes: evictor.blobBytes }, 'disk limit on: least-recently-used pulled blobs are evicted past the high watermark'),
      (error: unknown) => logger.error({ err: error }, 'disk limit: counting the stored blobs failed; nothing will be evicted'),
    );
  }
  const metrics = createMetrics(services.stats, services.fetcher, swarmParts?.swarm);
  const metricsApp = config.metricsListen ? buildMetricsApp(metrics, logger) : undefined;
  const peerApp = swarmParts && buildPeerApp({
    blobs: services.blobs, stats: services.stats, metrics, logger, members: swarmParts.swarm,
    upload: { slots: services.slots, upload: services.fetcher.limits.upload },
    ...(swarmParts.peerTls ? { tls: swarmParts.peerTls } : {}),
  });

  const close = async (): Promise<void> => {
    clearInterval(timer);
    clearInterval(accessTimer);
    await app.close();
    await peerApp?.close();
    await metricsApp?.close();
    await preheat.stop();
    await evictor?.close();
    await swarmParts?.stop();
    await router.close();
    await persistAccessTimes();
    await removePid().catch(() => undefined);
  };
  const timer = setInterval(() => void purgeUploads().catch((error: unknown) => logger.error({ err: error }, 'upload purge failed')), UPLOAD_PURGE_INTERVAL_MS);
  timer.unref();
  const accessTimer = setInterval(() => void persistAccessTimes(), ACCESS_TIMES_PERSIST_MS);
  accessTimer.unref();
  try {
    await listenAll();
  } catch (error) {
    // Whatever opened before the failure (the peer port, libp2p's other listeners, the pid file)
    // is closed again: left open, they kept the process alive, "running" with no registry API, so
    // a supervisor never restarted it.
    await close().catch((closeError: unknown) => logger.warn({ err: closeError }, 'closing after a failed start'));
    throw error;
  }
  async function listenAll(): Promise<void> {
    if (swarmParts && peerApp) {
      await peerApp.listen({ host: config.swarm.bindAddress, port: config.swarm.peerPort });
      ({ peerUrl } = await swarmParts.start(boundPort(peerApp, config.swarm.peerPort)));
      // Told once the swarm runs: requests served before that are not worth telling.
      const { swarm } = swarmParts;
      services.slots.onChange((load) => swarm.reportLoad(load));
      await preheat.start();
      logger.info({ peerId: swarmParts.swarm.peerId, multiaddrs: swarmParts.swarm.multiaddrs, peerUrl, mdns: config.swarm.mdns, clusterKey: swarmParts.clusterKey !== undefined }, 'swarm started');
    }
    if (metricsApp && config.metricsListen) {
      await metricsApp.listen({ host: config.metricsListen.host, port: config.metricsListen.port });
      logger.info({ metricsListen: metricsApp.server.address() }, 'metrics served on their own listener');
    }
    await app.listen({ host: config.listen.host, port: config.listen.port });
  }
  const port = boundPort(app, config.listen.port);
  const address = `http://${formatHostPort(config.listen.host, port)}`;
  logger.info(
    { address, dataDir: store.layout.root, upstreams: config.upstreams.map((u) => u.url) },
    config.upstreams.length > 0 ? 'shoal is serving; pulls go through to the upstreams' : 'shoal is serving as a standalone registry (no upstream configured)',
  );
  return {
    address,
    close: async () => {
      await close();
      logger.info('shoal stopped');
    },
  };
}

/** The port a listening app got (the configured one, or the one the OS picked for 0). */
function boundPort(app: FastifyInstance, configured: number): number {
  const bound = app.server.address();
  return typeof bound === 'object' && bound ? bound.port : configured;
}
