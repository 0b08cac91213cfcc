// What a response body of http1-client.ts is given (http1-body.ts): its framing, how it takes
// and passes on write batches, and what it asks of its connection.
import type { ReceiveGate } from './receive-room.ts';

export type Framing = { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' } | { readonly kind: 'close' };

export interface BodyBatches {
  /** Body bytes passed on read by read (a range read's first bytes) before batching starts. */
  readonly eagerBytes: number;
  /** Size of the batches the rest of a body is passed on in. */
  readonly batchBytes: number;
  /** A batch of `size` bytes, held once for the reader. */
  readonly takeBatch: (size: number) => Buffer;
  /**
   * Batches end at multiples of `batchBytes` from the body's first byte (the one after the eager
   * bytes is shorter by them). A body from a piece's start is then written in writes that never
   * straddle a piece's end, each of which would be split in two (one more trip through the thread
   * pool: the blob's writes are what a seed transfer waits on).
   */
  readonly alignBatches?: boolean;
  /**
   * The room batches count against (receive-room.ts): while it is full, the body takes no new
   * batch and stops reading its socket after the batch it filled, until the room lets it go on.
   */
  readonly room?: ReceiveGate;
  /**
   * Holds on a batch (store/write-batches.ts retainBatch/releaseBatch). With them, bytes that sat
   * in a batch being filled for PARTIAL_PUSH_MS are passed on as a view of it while it fills on.
   */
  readonly holds?: BatchHolds;
}

export interface BatchHolds {
  /** One more hold on the batch `view` is part of. */
  retain(view: Uint8Array): void;
  /** Gives one hold back. */
  release(view: Uint8Array): void;
}

/**
 * Bytes received are passed on no later than this, batch full or not. A starved connection (a
 * seed link shaped to 8 Mbit/s with four reads through it: one took 60 s for 4 MiB, in bursts)
 * kept up to a batch's worth in the batch for tens of seconds, so the peers reading the piece
 * from this host saw nothing, took it for stalled and read it from the seed again
 * (swarm-egress "slow seed": 1.0527 and 1.0625x in 1 of 5 runs).
 */
export const PARTIAL_PUSH_MS = 1_000;

/** What a body asks of its connection. */
export interface BodyLink {
  /** The reader wants more: read the socket again. */
  resume(): void;
  /** The body cannot go on: the connection breaks off. */
  abort(error: Error): void;
  /** The body's last byte arrived; `reusable`: the connection may carry another request. */
  finished(reusable: boolean): void;
}
