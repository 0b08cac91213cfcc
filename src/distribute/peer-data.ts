import type { Readable } from 'node:stream';
import type { ByteRange, Digest } from '../oci/index.ts';

/**
 * Asking a peer as the owner of the pieces: it fetches them from its seed on demand when it has
 * not got them, so it needs the repository (to find the seed) and the size the asker trusts.
 */
export interface OwnerAsk {
  readonly repository: string;
  readonly ns?: string | undefined;
  readonly size: number;
  /** The asker's peer id: the owner never asks it back for the same piece. */
  readonly from?: string | undefined;
  /**
   * The piece's owner that stalled for the asker (crawling-transfer.ts), who asks the next owner
   * instead: that one does not wait for, or read from, the stalled one for the piece either.
   */
  readonly skip?: string | undefined;
}

/**
 * Byte ranges of blobs from other shoal nodes' data planes: the HTTP client (PeerClient) or its
 * in-memory twin (MemoryPeerData); test/unit/distribute-peer-data.test.ts holds both to one suite.
 */
export interface PeerData {
  /**
   * Exactly the bytes of `range` (inclusive) of the blob at the peer `baseUrl`. Throws
   * PeerRequestError: with the peer's status when it answered (404 not there, 416 outside the
   * blob, 503 busy), without one when it did not answer.
   */
  /** `from`: this host's peer id, told with a holder's read too (the holder then takes this host for no source of those pieces). */
  fetchRange(baseUrl: string, digest: Digest, range: ByteRange, signal?: AbortSignal, ask?: OwnerAsk, from?: string): Promise<Readable>;
  close(): Promise<void>;
}

export class PeerRequestError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PeerRequestError';
    this.status = status;
  }
}
