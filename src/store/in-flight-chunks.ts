// Chunks handed to a blob whose writes have not landed in its file yet. A client's reader may
// send them at once, as a proxy would, instead of waiting for the trip through the thread pool:
// on two busy cores each landing waited for a pool thread to be scheduled, and the client with it.
// Only handed-over chunks (hand-over-marks.ts): nobody refills them while they are here.
import { isHandedOver } from './hand-over-marks.ts';
import { retainBatch } from './write-batches.ts';

export interface FlyingChunk {
  readonly start: number;
  readonly bytes: Uint8Array;
  /** A reader took bytes of it: if its write fails, readers that sent them must fail too. */
  seen: boolean;
}

export class InFlightChunks {
  readonly #chunks: FlyingChunk[] = [];

  /** Remembers `bytes`, about to be written at `start`, if they were handed over. */
  add(start: number, bytes: Uint8Array): FlyingChunk | undefined {
    if (bytes.byteLength === 0 || !isHandedOver(bytes)) return undefined;
    const chunk: FlyingChunk = { start, bytes, seen: false };
    this.#chunks.push(chunk);
    return chunk;
  }

  /** The chunk's write landed or failed: readers take its bytes from elsewhere now, or not at all. */
  remove(chunk: FlyingChunk): void {
    const at = this.#chunks.indexOf(chunk);
    if (at >= 0) this.#chunks.splice(at, 1);
  }

  #holding(position: number): FlyingChunk | undefined {
    for (const chunk of this.#chunks) if (position >= chunk.start && position < chunk.start + chunk.bytes.byteLength) return chunk;
    return undefined;
  }

  /** End (exclusive) of the chunk holding the byte at `position`, if one does. */
  endAt(position: number): number | undefined {
    const chunk = this.#holding(position);
    return chunk ? chunk.start + chunk.bytes.byteLength : undefined;
  }

  /** Up to `limit` bytes from `position`, a view that holds its batch until its sender gives it back (as RecentChunks.take). */
  take(position: number, limit: number): Buffer | undefined {
    const chunk = this.#holding(position);
    if (!chunk) return undefined;
    chunk.seen = true;
    const from = position - chunk.start;
    const view = Buffer.from(chunk.bytes.buffer, chunk.bytes.byteOffset + from, Math.min(chunk.bytes.byteLength - from, limit));
    retainBatch(view);
    return view;
  }

  get size(): number {
    return this.#chunks.length;
  }
}
