import { networkInterfaces } from 'node:os';
import type { TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { SwarmConfig } from '../config/types.ts';
import { PeerClient } from '../distribute/peer-client.ts';
import { pushedToSwarm } from '../distribute/tag-origin.ts';
import type { Store } from '../store/index.ts';
import { createSwarm, loadClusterKey, peerTlsClientOptions, peerTlsServerOptions, type ClusterKey, type Swarm } from '../swarm/index.ts';
import { formatHostPort } from '../lib/host-port.ts';

export interface SwarmParts {
  readonly swarm: Swarm;
  readonly peers: PeerClient;
  readonly clusterKey: ClusterKey | undefined;
  /** With a cluster key: the peer app's TLS options (only key holders get a byte, /metrics included). */
  readonly peerTls: TlsOptions | undefined;
  /** Starts the swarm once the peer app listens on `dataPort`; store events become have/tag announcements. */
  start(dataPort: number): Promise<{ peerUrl: string }>;
  stop(): Promise<void>;
}

/**
 * Builds the swarm side of a node, not started: the libp2p control plane, the client for peers'
 * data planes, and the store-event → announcement wiring (the network never polls the disk).
 */
export async function createSwarmParts(config: SwarmConfig, dataDir: string, store: Store, logger: Logger, tagName: (repository: string) => string = (repository) => repository): Promise<SwarmParts> {
  const clusterKey = config.clusterKeyPath !== undefined ? await loadClusterKey(config.clusterKeyPath) : undefined;
  const peers = new PeerClient(clusterKey ? { tls: peerTlsClientOptions(clusterKey) } : {});
  const unsubscribe: Array<() => void> = [];
  const log = logger.child({ part: 'swarm' });
  const swarm = await createSwarm(
    {
      dataDir,
      listenPort: config.p2pPort,
      listenAddresses: [config.bindAddress],
      pieceSize: config.pieceSize,
      bootstrap: config.bootstrap,
      mdns: config.mdns ? {} : false,
      maxConnections: config.maxPeerConnections,
      ownerCommittee: config.ownerCommittee,
      ...(config.advertiseAddress !== undefined ? { advertiseAddress: config.advertiseAddress } : {}),
      ...(clusterKey ? { clusterKey } : {}),
      logger: log,
    },
    { inventory: () => inventory(store) },
  );

  return {
    swarm,
    peers,
    clusterKey,
    peerTls: clusterKey ? peerTlsServerOptions(clusterKey) : undefined,
    async start(dataPort) {
      unsubscribe.push(store.blobs.onCommitted((digest, size) => swarm.announceHave(digest.value, size)));
      // Evicted or collected: peers must stop asking this node for it.
      unsubscribe.push(store.blobs.onDeleted((digest) => swarm.announceWithdrawn(digest)));
      unsubscribe.push(store.repositories.onTagged((name, tag, digest) => {
        // A tag taken from the swarm is the same fact as the record it came from, told with that
        // record's time: told as new, a host that took the old image while a push of the tag
        // again was on its way would have won over that push (the last writer wins).
        const newest = swarm.newestTag(tagName(name), tag);
        const sameFact = newest !== undefined && !newest.deleted && newest.digest === digest.value;
        void swarm.announceTag(tagName(name), tag, digest.value, sameFact ? newest.timestamp : undefined, { pushed: pushedToSwarm(store.pushed, newest, name, tag, digest.value) });
      }));
      unsubscribe.push(store.repositories.onUntagged((name, tag, digest) => void swarm.announceTagDeleted(tagName(name), tag, digest.value)));
      // Tags pushed here are the swarm's even where the seed lacks them: said so again after every
      // restart (tag records live in memory), or hosts that took them from us would take the seed's
      // 404 for a withdrawal.
      for (const record of store.pushed.records()) {
        if (record.tag === undefined || (await store.repositories.resolveTag(record.repository, record.tag))?.value !== record.digest) continue;
        swarm.announceTag(tagName(record.repository), record.tag, record.digest, Date.parse(record.pushedAt) || Date.now(), { pushed: true });
      }
      unsubscribe.push(swarm.on('peer:joined', (peer) => {
        log.info({ peer: peer.peerId, url: peer.url, addresses: peer.addresses }, 'peer joined');
        if (peer.pieceSize !== undefined && peer.pieceSize !== config.pieceSize) {
          log.warn({ peer: peer.peerId, url: peer.url, pieceSize: peer.pieceSize, ownPieceSize: config.pieceSize }, 'peer uses another piece size: no pieces are traded with it, blobs come from the seed instead; give every host the same --piece-size');
        }
      }));
      unsubscribe.push(swarm.on('peer:left', (peer) => log.info({ peer: peer.peerId, reason: peer.reason }, 'peer left')));
      unsubscribe.push(swarm.on('peer:penalised', (p) => log.warn({ peer: p.peerId, reason: p.reason, until: new Date(p.until).toISOString() }, 'peer penalised')));
      await swarm.start({ port: dataPort });
      const host = config.advertiseAddress ?? (isWildcard(config.bindAddress) ? firstLanAddress() ?? config.bindAddress : config.bindAddress);
      return { peerUrl: `${clusterKey ? 'https' : 'http'}://${formatHostPort(host, dataPort)}` };
    },
    async stop() {
      for (const off of unsubscribe.splice(0)) off();
      await swarm.stop();
      await peers.close();
    },
  };
}

async function* inventory(store: Store): AsyncGenerator<{ digest: string; size: number }> {
  for await (const { digest, size } of store.blobs.list()) yield { digest: digest.value, size };
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** The address peers most likely reach this host at, for logs and `shoal status`. */
function firstLanAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    const found = addresses?.find((a) => a.family === 'IPv4' && !a.internal);
    if (found) return found.address;
  }
  return undefined;
}
