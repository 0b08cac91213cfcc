import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { BlobService } from '../distribute/blob-service.ts';
import type { ListingService } from '../distribute/listing.ts';
import type { ManifestService } from '../distribute/manifest-service.ts';
import type { PreheatApi } from '../distribute/preheat-cluster.ts';
import type { PushService } from '../distribute/push-service.ts';
import type { UpstreamRouter } from '../distribute/types.ts';

/** What the registry routes stand on (never the store itself). Built by the daemon; tests build it around a temp store. */
export interface RegistryServices {
  readonly blobs: BlobService;
  /** Uploads, mounts, manifest puts and deletes. */
  readonly push: PushService;
  readonly manifests: ManifestService;
  readonly listing: ListingService;
  /** Maps a requested name (and containerd's `?ns=`) to the name it is stored and cached under. */
  readonly names: Pick<UpstreamRouter, 'repository'>;
  readonly logger: Logger;
  /** Largest blob upload in bytes; 0 = unlimited. */
  readonly maxUploadBytes: number;
  /** The node's status snapshot (JSON) for `shoal status`, `prefetch`, `doctor` and the status page. */
  readonly status?: () => Promise<unknown>;
  /** Cluster preheat (routes/preheat.ts); absent: no such endpoint. */
  readonly preheat?: PreheatApi;
}

export interface RouteContext<E> {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  readonly endpoint: E;
  readonly query: URLSearchParams;
  readonly services: RegistryServices;
}
