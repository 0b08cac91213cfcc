// One shoal host for the real part of the scale bench, several per process: a Store in a temp
// dir, the real Fetcher and piece engine, the real peer data plane on loopback, and the real
// libp2p Swarm over TCP on loopback — wired as src/daemon wires them (test/helpers/fake-peer.ts
// does the same over a MemorySwarm).
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { BlobService } from '../../src/distribute/blob-service.ts';
import { Fetcher } from '../../src/distribute/fetcher.ts';
import { PeerClient } from '../../src/distribute/peer-client.ts';
import { TransferLimits } from '../../src/distribute/rate-limit.ts';
import { ServeSlots } from '../../src/distribute/serve-slots.ts';
import { TransferStats } from '../../src/distribute/transfer-stats.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { buildPeerApp } from '../../src/http/peer-app.ts';
import type { ByteRange, Digest } from '../../src/oci/index.ts';
import type { BlobSource } from '../../src/distribute/types.ts';
import { Store } from '../../src/store/index.ts';
import { createSwarm, type Swarm } from '../../src/swarm/index.ts';
import { REPOSITORY, silentLogger, stubRouter, type CountingSeed } from '../../test/helpers/fake-peer.ts';

export interface RealHost {
  readonly name: string;
  readonly swarm: Swarm;
  readonly stats: TransferStats;
  /** Pulls the blob as a client would and resolves once it is verified and stored. */
  pull(digest: Digest): Promise<void>;
  close(): Promise<void>;
}

export interface RealHostInit {
  readonly name: string;
  readonly seed: CountingSeed;
  readonly pieceSize: number;
  readonly bootstrap: readonly string[];
  readonly maxConnections: number;
  /** Hosts in a blob's owner committee (the daemon's owner-committee); undefined: the swarm's default. */
  readonly ownerCommittee?: number;
  /** Hosts sharing this one's address (all of them, on loopback): libp2p limits inbound connections per address and second. */
  readonly hostsOnAddress: number;
  /** Told of every range this host opens at the seed (bench/scale/seed-reasons.ts). */
  readonly onSeedRead?: (range: ByteRange | undefined) => void;
  /**
   * upload-rate of the host, bytes per second (0: none). Not download-rate: a capped download
   * crashed the bench's process (src/lib/http1-body.ts target(): a detached ArrayBuffer).
   */
  readonly linkBytesPerSecond?: number;
}

/** SHOAL_SCALE_LOG_DIR=<dir>: each host logs at debug to <dir>/<name>.log (why a piece went where); else silent. */
function hostLogger(name: string): Logger {
  const dir = process.env.SHOAL_SCALE_LOG_DIR;
  return dir ? pino({ level: 'debug', base: { host: name } }, pino.destination({ dest: join(dir, `${name}.log`), mkdir: true, sync: false })) : silentLogger;
}

/** libp2p's inbound connections per second from one address: a LAN host's share. */
const INBOUND_PER_HOST_PER_SECOND = 5;

export async function startRealHost(init: RealHostInit): Promise<RealHost> {
  const dir = await mkdtemp(join(tmpdir(), `shoal-scale-${init.name}-`));
  const { store } = await Store.open(dir);
  const stats = new TransferStats();
  const logger = hostLogger(init.name);
  const peers = new PeerClient({});
  const swarm = await createSwarm(
    { listenAddresses: ['127.0.0.1'], advertiseAddress: '127.0.0.1', mdns: false, pieceSize: init.pieceSize, bootstrap: init.bootstrap, maxConnections: init.maxConnections, ownerCommittee: init.ownerCommittee, inboundPerAddressPerSecond: INBOUND_PER_HOST_PER_SECOND * init.hostsOnAddress, logger },
    { inventory: async function* () {} },
  );
  const fetcher = new Fetcher(
    { store, seed: watched(init.seed.sourceFor(init.name), init.onSeedRead), router: stubRouter(true), logger, swarm, peers, stats, limits: new TransferLimits({ uploadBytesPerSecond: init.linkBytesPerSecond ?? 0 }) },
    { membershipSettleMs: 0, pieceSize: init.pieceSize },
  );
  const slots = new ServeSlots();
  slots.onChange((load) => swarm.reportLoad(load));
  const app = buildPeerApp({ blobs: new BlobService(store, fetcher), stats, metrics: createMetrics(stats, fetcher, swarm), logger, upload: { slots, upload: fetcher.limits.upload }, members: swarm });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const unsubscribe = store.blobs.onCommitted((digest, size) => swarm.announceHave(digest.value, size));
  await swarm.start({ port: (app.server.address() as AddressInfo).port });
  return {
    name: init.name,
    swarm,
    stats,
    async pull(digest) {
      const partial = await fetcher.fetch({ name: REPOSITORY, digest });
      await partial?.done();
    },
    async close() {
      unsubscribe();
      await swarm.stop().catch(() => undefined);
      fetcher.close();
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
      await peers.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function watched(seed: BlobSource, onRead: RealHostInit['onSeedRead']): BlobSource {
  if (onRead === undefined) return seed;
  return {
    ...seed,
    open(want, range, signal) {
      onRead(range);
      return seed.open(want, range, signal);
    },
  };
}
