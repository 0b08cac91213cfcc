// Buffers whose writer gives them up once written: a PartialBlob may keep them for its readers
// (partial.ts) because nobody refills them while they are kept. coalesce.ts's batches are such
// buffers (reused only once nobody holds them: write-batches.ts); anything else (a buffer its
// owner reuses, a slice of a shared pool) is read back from the file instead.
import { releaseBatch, retainBatch } from './write-batches.ts';

const handedOver = new WeakSet<ArrayBufferLike>();

/** Marks `bytes` as never written to again; only a view over a whole ArrayBuffer of its own can be. */
export function handOver(bytes: Uint8Array): void {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) handedOver.add(bytes.buffer);
}

export function isHandedOver(bytes: Uint8Array): boolean {
  return handedOver.has(bytes.buffer);
}

/**
 * Chunks kept in memory per blob for readers that keep up (4 × 512 KiB batches): reading just
 * written bytes back from the file cost a thread-pool trip and a copy per 256 KiB.
 */
const RECENT_CHUNKS = 4;

/**
 * The last few handed-over chunks written to a blob, by offset: a reader close behind the writer
 * copies its bytes from here instead of reading them back from the file. Each kept chunk holds
 * its batch (write-batches.ts) until it is dropped; readers copy, so they hold nothing.
 */
export class RecentChunks {
  readonly #chunks: Buffer[] = [];
  readonly #starts: number[] = [];

  /** Keeps `chunk`, written at `offset`, if its writer handed it over (else it could change). */
  remember(offset: number, chunk: Uint8Array): void {
    if (!isHandedOver(chunk)) return;
    retainBatch(chunk);
    this.#chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.#starts.push(offset);
    if (this.#chunks.length > RECENT_CHUNKS) {
      releaseBatch(this.#chunks.shift()!);
      this.#starts.shift();
    }
  }

  /** The kept bytes from `position` to the end of the chunk holding it, if one does. */
  from(position: number): Buffer | undefined {
    for (let i = this.#chunks.length - 1; i >= 0; i--) {
      const start = this.#starts[i]!;
      const bytes = this.#chunks[i]!;
      if (position >= start && position < start + bytes.byteLength) return bytes.subarray(position - start);
    }
    return undefined;
  }

  forget(): void {
    for (const chunk of this.#chunks) releaseBatch(chunk);
    this.#chunks.length = 0;
    this.#starts.length = 0;
  }
}
