import type { Readable } from 'node:stream';
import type { ByteRange, Digest } from '../oci/index.ts';
import type { UpstreamRegistry, UpstreamTarget } from '../upstream/types.ts';

/** Maps a client-visible repository name (and containerd's `ns`) to the upstreams to try, in order. */
export interface UpstreamRouter {
  /** The configured upstreams, in order (for the catalog). */
  readonly upstreams: readonly UpstreamRegistry[];
  targets(name: string, ns?: string): UpstreamTarget[];
  /**
   * The name everything about `name` (asked with containerd's `ns`) is cached under: one per
   * (registry, repository). Throws an OciError for an invalid or not-allowed `ns`.
   */
  repository(name: string, ns?: string): string;
  /** The name tag records of `repository` carry in the swarm: its registry always spelled out. */
  qualifiedName(repository: string): string;
}

export interface BlobWant {
  readonly name: string;
  readonly digest: Digest;
  readonly ns?: string;
}

/** A stream of a blob from somewhere other than the local disk. */
export interface SourceStream {
  /** total size of the blob */
  readonly size: number;
  readonly stream: Readable;
}

/**
 * Somewhere a missing blob can come from (the seed; peers in the swarm). `open` returns
 * undefined when this source does not have the blob, and throws when it cannot be asked.
 * `range` is used to resume a transfer that broke off.
 */
export interface BlobSource {
  readonly kind: string;
  open(want: BlobWant, range?: ByteRange, signal?: AbortSignal): Promise<SourceStream | undefined>;
  /** The blob's size without its bytes (HEAD), undefined when this source does not have it. */
  size?(want: BlobWant, options?: { readonly timeoutMs?: number }): Promise<number | undefined>;
}

export type BlobOrigin = 'local' | 'joined' | 'fetched';

/** A blob to send: a verified file on disk (sent with reused buffers), or a stream of arriving bytes. */
export type OpenedBlob =
  | { readonly origin: 'local'; readonly size: number; readonly path: string; readonly range: ByteRange | undefined }
  | { readonly origin: 'joined' | 'fetched'; readonly size: number; readonly stream: Readable; readonly range: ByteRange | undefined };

/** What a peer asking this host for a blob gets: the bytes it has or is fetching (or owns). */
export interface PeerRead {
  readonly size: number;
  read(range: ByteRange): Readable;
  /** An owner ask for `range` that would wait for this host's seed reads: answer busy (PieceEngine.askWouldWait). */
  busy(range: ByteRange): boolean;
}
