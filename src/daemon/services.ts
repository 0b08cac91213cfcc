import type { Logger } from 'pino';
import { BlobService } from '../distribute/blob-service.ts';
import { Fetcher, type FetcherInit } from '../distribute/fetcher.ts';
import { ListingService } from '../distribute/listing.ts';
import { ManifestService, type ManifestPeers } from '../distribute/manifest-service.ts';
import { PushService } from '../distribute/push-service.ts';
import type { PeerData } from '../distribute/peer-data.ts';
import { TransferStats } from '../distribute/transfer-stats.ts';
import type { UpstreamRouter } from '../distribute/types.ts';
import { UpstreamBlobSource } from '../distribute/upstream-source.ts';
import { TransferLimits, type TransferLimitsInit } from '../distribute/rate-limit.ts';
import { ServeSlots } from '../distribute/serve-slots.ts';
import type { RegistryServices } from '../http/context.ts';
import { MAX_MANIFEST_BYTES } from '../oci/index.ts';
import type { Store } from '../store/index.ts';
import type { SwarmApi } from '../swarm/index.ts';

export interface ServicesOptions {
  readonly store: Store;
  readonly router: UpstreamRouter;
  readonly logger: Logger;
  readonly tagTimeoutMs: number;
  readonly maxUploadBytes: number;
  /** The swarm and a client for peers' data planes; absent: a single-node mirror. */
  readonly swarm?: { readonly api: SwarmApi; readonly peers: PeerData };
  readonly fetcher?: FetcherInit;
  /** Bandwidth caps (default unlimited) and piece requests served to peers at once. */
  readonly limits?: TransferLimitsInit;
  readonly maxPeerServes?: number;
}

export type WiredServices = RegistryServices & { readonly fetcher: Fetcher; readonly stats: TransferStats; readonly slots: ServeSlots };

/** Wires the blob source chain (local → in-flight → peers → seed) and the services the routes use. */
export function createRegistryServices(options: ServicesOptions): WiredServices {
  const { store, router, logger, swarm } = options;
  const stats = new TransferStats();
  const fetcher = new Fetcher(
    { store, logger, router, seed: new UpstreamBlobSource(router), stats, limits: new TransferLimits(options.limits), ...(swarm ? { swarm: swarm.api, peers: swarm.peers } : {}) },
    options.fetcher ?? {},
  );
  const manifestPeers: ManifestPeers | undefined = swarm && {
    newestTag: (repository, tag) => swarm.api.newestTag(repository, tag),
    fetch: async (name, digest) => {
      // Only a blob small enough to be a manifest: asked for a layer's digest as a manifest, a
      // node fetched the whole layer from its peers, into memory, to find out (50 MB: +150 MiB RSS).
      if (!swarm.api.holders(digest.value).some((holder) => holder.size <= MAX_MANIFEST_BYTES)) return undefined;
      const partial = await fetcher.fetch({ name, digest });
      await partial?.done();
      return store.blobs.read(digest);
    },
  };
  const blobs = new BlobService(store, fetcher);
  return {
    logger,
    fetcher,
    stats,
    slots: new ServeSlots(options.maxPeerServes),
    maxUploadBytes: options.maxUploadBytes,
    names: router,
    blobs,
    push: new PushService(store, blobs, logger, { maxUploadBytes: options.maxUploadBytes }),
    manifests: new ManifestService(store, router, logger, { tagTimeoutMs: options.tagTimeoutMs, sizes: fetcher.sizes }, manifestPeers),
    listing: new ListingService(store, router, logger, { timeoutMs: options.tagTimeoutMs }),
  };
}
