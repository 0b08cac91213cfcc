// Cluster preheat's parts: this host's own pulls (LocalPreheat), the coordinator (ClusterPreheat)
// behind the admin API, and the preheat protocol on the swarm's libp2p node, started once the
// swarm runs.
import type { Logger } from 'pino';
import { ClusterPreheat, type PreheatApi } from '../distribute/preheat-cluster.ts';
import { LocalPreheat } from '../distribute/preheat-local.ts';
import type { Fetcher } from '../distribute/fetcher.ts';
import type { ManifestService } from '../distribute/manifest-service.ts';
import type { Store } from '../store/index.ts';
import { PreheatProtocol, type Swarm } from '../swarm/index.ts';

export interface PreheatParts {
  readonly api: PreheatApi;
  /** Serves and asks over the swarm; call after the swarm started. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createPreheat(parts: { store: Store; manifests: ManifestService; fetcher: Fetcher; swarm: Swarm | undefined; logger: Logger }): PreheatParts {
  const { swarm } = parts;
  const local = new LocalPreheat({ manifests: parts.manifests, fetcher: parts.fetcher, storedSize: (digest) => parts.store.blobs.stat(digest) });
  const log = parts.logger.child({ part: 'preheat' });
  let cluster: ClusterPreheat;
  const protocol = new PreheatProtocol({
    runner: (request, report, signal, asker) => {
      log.info({ asker, images: request.images.length }, 'preheat asked by a peer');
      return cluster.serve(request, report, signal, asker);
    },
    // The cluster key kept strangers off the connection; a member is also one this host has heard from.
    mayAsk: (peerId) => swarm?.peers().some((peer) => peer.peerId === peerId) ?? false,
    onError: (peerId, error) => log.warn({ peerId, err: error.message }, 'preheat for a peer failed'),
  });
  cluster = new ClusterPreheat(local, swarm && {
    selfId: swarm.peerId,
    peers: () => swarm.peers(),
    ask: (peerId, request, onReport) => protocol.ask(peerId, request, onReport),
    holders: (digest) => swarm.holders(digest),
  });
  return {
    api: cluster,
    start: async () => {
      if (swarm?.node) await protocol.start(swarm.node);
    },
    stop: () => protocol.stop(),
  };
}
