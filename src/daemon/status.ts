import type { ShoalConfig } from '../config/types.ts';
import type { Fetcher } from '../distribute/fetcher.ts';
import type { TransferStats } from '../distribute/transfer-stats.ts';
import type { ServeSlots } from '../distribute/serve-slots.ts';
import type { Store } from '../store/index.ts';
import type { SwarmApi } from '../swarm/index.ts';
import type { UpstreamSet } from '../upstream/upstreams.ts';
import { unverifiedUpstreams } from '../upstream/tls-clients.ts';

/** Snapshot of a node for `shoal status`, `shoal doctor`, `shoal prefetch` and the status page. */
export interface NodeStatus {
  readonly node: {
    readonly version: string;
    readonly startedAt: string;
    readonly now: number;
    readonly listen: string;
    readonly dataDir: string;
    readonly blobs: number;
    readonly storedBytes: number;
    readonly peerId?: string;
    readonly multiaddrs?: readonly string[];
    readonly peerUrl?: string;
  };
  readonly upstreams: ReadonlyArray<{ url: string; host: string; state: string; configured: boolean; lastError?: string; consecutiveFailures: number }>;
  /** Configured upstreams whose TLS certificates are not verified (upstream-skip-verify). */
  readonly tlsSkipVerify: readonly string[];
  /** `open`: the swarm is on without a cluster key, so any host on the LAN can join and fetch every blob. */
  readonly swarm: {
    readonly enabled: boolean; readonly mdns: boolean; readonly clusterKey: boolean; readonly open: boolean; readonly pieceSize?: number;
    /** Hosts found whose connections fail in the handshake: another cluster key, or none (an older node's status has no such field). */
    readonly unjoinable?: ReadonlyArray<{ readonly peerId: string; readonly addresses: readonly string[] }>;
  };
  readonly peers: ReadonlyArray<{
    readonly peerId: string;
    readonly url: string | undefined;
    readonly addresses: readonly string[];
    readonly lastSeen: number;
    readonly clockSkewMs: number;
    /** The piece size it said hello with (an older node says none). */
    readonly pieceSize?: number;
    readonly blobs: number;
    readonly bytesReceived: number;
    readonly bytesServed: number;
  }>;
  readonly transfers: {
    readonly bytesFromSeed: number;
    readonly bytesFromPeers: number;
    readonly bytesServedToPeers: number;
    readonly blobsFetched: number;
    readonly blobsFailed: number;
    readonly verificationFailures: number;
  };
  /** Bandwidth caps (bytes/s, 0 = unlimited) with the rate now, piece requests being served, range-fetch mode. */
  readonly neighbour: {
    readonly caps: Readonly<Record<'upload' | 'download' | 'seed', { readonly limit: number; readonly rate: number }>>;
    readonly serving: number;
    readonly maxPeerServes: number;
    readonly rangeFetch: string;
  };
  readonly inflight: ReadonlyArray<{ readonly digest: string; readonly size: number; readonly received: number; readonly readers: number }>;
  readonly images: ReadonlyArray<{ readonly repository: string; readonly tag: string; readonly digest: string; readonly size: number }>;
}

export interface StatusSources {
  readonly config: ShoalConfig;
  readonly version: string;
  readonly startedAt: Date;
  readonly listen: string;
  readonly store: Store;
  readonly fetcher: Fetcher;
  readonly stats: TransferStats;
  readonly slots: ServeSlots;
  readonly router: UpstreamSet;
  readonly swarm: SwarmApi | undefined;
  readonly peerUrl: () => string | undefined;
}

/** Disk totals are walked at most this often (a big store has many blobs). */
const DISK_SCAN_INTERVAL_MS = 10_000;
const MAX_IMAGES = 500;

export function createStatusCollector(sources: StatusSources): () => Promise<NodeStatus> {
  let disk = { at: 0, blobs: 0, bytes: 0 };
  // A new blob makes the next snapshot recount, so the totals never lag behind a push or a pull.
  const recount = (): void => {
    disk = { ...disk, at: 0 };
  };
  sources.store.blobs.onCommitted(recount);
  sources.store.blobs.onDeleted(recount);
  const scanDisk = async (): Promise<typeof disk> => {
    if (Date.now() - disk.at < DISK_SCAN_INTERVAL_MS) return disk;
    let blobs = 0;
    let bytes = 0;
    for await (const { size } of sources.store.blobs.list()) {
      blobs += 1;
      bytes += size;
    }
    disk = { at: Date.now(), blobs, bytes };
    return disk;
  };

  const images = async (): Promise<NodeStatus['images']> => {
    const { repositories, manifests } = sources.store;
    const result: Array<NodeStatus['images'][number]> = [];
    for (const repository of await repositories.repositories()) {
      for (const tag of await repositories.tags(repository)) {
        if (result.length >= MAX_IMAGES) return result;
        const digest = await repositories.resolveTag(repository, tag);
        if (!digest) continue;
        const manifest = await manifests.read(digest).catch(() => undefined);
        const size = (manifest?.body.byteLength ?? 0) + (manifest?.parsed.blobs.reduce((sum, blob) => sum + blob.size, 0) ?? 0);
        result.push({ repository, tag, digest: digest.value, size });
      }
    }
    return result;
  };

  return async () => {
    const { swarm, stats, config } = sources;
    const { blobs, bytes } = await scanDisk();
    const peerUrl = sources.peerUrl();
    const servedByHost = (url: string | undefined): number => {
      if (!url) return 0;
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      return stats.toPeer.get(host) ?? stats.toPeer.get(`::ffff:${host}`) ?? 0;
    };
    return {
      node: {
        version: sources.version,
        startedAt: sources.startedAt.toISOString(),
        now: Date.now(),
        listen: sources.listen,
        dataDir: sources.store.layout.root,
        blobs,
        storedBytes: bytes,
        ...(swarm ? { peerId: swarm.peerId, multiaddrs: swarm.multiaddrs } : {}),
        ...(peerUrl ? { peerUrl } : {}),
      },
      upstreams: sources.router.health().map((h) => ({
        url: h.url,
        host: h.host,
        state: h.state,
        configured: h.configured,
        consecutiveFailures: h.consecutiveFailures,
        ...(h.lastError !== undefined ? { lastError: h.lastError } : {}),
      })),
      tlsSkipVerify: unverifiedUpstreams(config.upstreams),
      swarm: {
        enabled: config.swarm.enabled, mdns: config.swarm.enabled && config.swarm.mdns, clusterKey: config.swarm.clusterKeyPath !== undefined,
        open: config.swarm.enabled && config.swarm.clusterKeyPath === undefined,
        pieceSize: config.swarm.pieceSize,
        unjoinable: swarm?.unjoinable() ?? [],
      },
      peers: (swarm?.peers() ?? []).map((peer) => ({
        peerId: peer.peerId,
        url: peer.url,
        addresses: peer.addresses,
        lastSeen: peer.lastSeen,
        clockSkewMs: peer.clockSkewMs,
        ...(peer.pieceSize !== undefined ? { pieceSize: peer.pieceSize } : {}),
        blobs: peer.blobs,
        bytesReceived: stats.fromPeer.get(peer.peerId) ?? 0,
        bytesServed: servedByHost(peer.url),
      })),
      transfers: {
        bytesFromSeed: stats.bytesFromSeed,
        bytesFromPeers: stats.bytesFromPeers,
        bytesServedToPeers: stats.bytesServedToPeers,
        blobsFetched: stats.blobsFetched,
        blobsFailed: stats.blobsFailed,
        verificationFailures: stats.verificationFailures,
      },
      neighbour: {
        caps: sources.fetcher.limits.snapshot(),
        serving: sources.slots.inUse,
        maxPeerServes: sources.slots.max,
        rangeFetch: config.neighbour.rangeFetch,
      },
      inflight: sources.fetcher.inflight().map((p) => ({ digest: p.digest.value, size: p.size, received: p.received, readers: p.readers })),
      images: await images(),
    };
  };
}
