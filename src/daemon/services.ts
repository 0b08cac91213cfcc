import type { Logger } from 'pino';
import { BlobService } from '../distribute/blob-service.ts';
import { Fetcher } from '../distribute/fetcher.ts';
import { ListingService } from '../distribute/listing.ts';
import { ManifestService } from '../distribute/manifest-service.ts';
import type { BlobSource, UpstreamRouter } from '../distribute/types.ts';
import { UpstreamBlobSource } from '../distribute/upstream-source.ts';
import type { RegistryServices } from '../http/context.ts';
import type { Store } from '../store/index.ts';

export interface ServicesOptions {
  readonly store: Store;
  readonly router: UpstreamRouter;
  readonly logger: Logger;
  readonly tagTimeoutMs: number;
  readonly maxUploadBytes: number;
  /** Sources tried before the seed (the swarm's peers). */
  readonly extraSources?: readonly BlobSource[];
}

/** Wires the blob source chain (local → in-flight → extra sources → seed) and the services the routes use. */
export function createRegistryServices(options: ServicesOptions): RegistryServices & { fetcher: Fetcher } {
  const { store, router, logger } = options;
  const fetcher = new Fetcher({ store, logger, sources: [...(options.extraSources ?? []), new UpstreamBlobSource(router)] });
  return {
    store,
    logger,
    fetcher,
    maxUploadBytes: options.maxUploadBytes,
    blobs: new BlobService(store, fetcher, router),
    manifests: new ManifestService(store, router, logger, { tagTimeoutMs: options.tagTimeoutMs }),
    listing: new ListingService(store, router, logger, { timeoutMs: options.tagTimeoutMs }),
  };
}
