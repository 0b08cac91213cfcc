// The last chunks written to a blob, kept for its readers: only handed-over buffers
// (hand-over-marks.ts), since nobody refills them while they are kept.
import { isHandedOver } from './hand-over-marks.ts';
import { releaseBatch, retainBatch } from './write-batches.ts';

/**
 * Chunks kept in memory per blob for readers that keep up: a piece's worth of 512 KiB batches.
 * Reading just-written bytes back from the file cost a thread-pool trip and a copy per 256 KiB,
 * and with two pieces arriving at once (a peer transfer) a reader finishing one piece finds the
 * next one already written: with 4 chunks kept, first in first out, 90% of a 512 MiB blob was
 * read back from the file (bench/peer-transfer.bench.ts).
 */
const RECENT_CHUNKS = 8;
/**
 * Chunks kept by every blob being written together: blobs written at once share them, down to
 * RECENT_CHUNKS_MIN each. A crowd pulling a cold 4-layer image has three or four blobs arriving at
 * once, and 8 chunks each were 12-16 MiB of its peak, while most of its readers fell behind them
 * anyway (the seed sends faster than 200 clients take) and read the file (bench/memory.bench.ts).
 */
const RECENT_CHUNKS_SHARED = 8;
const RECENT_CHUNKS_MIN = 2;
/** A blob that kept no new chunk for this long no longer takes a share (one left unfinished must not shrink the others' for good). */
const KEEPING_MS = 5_000;
/** Blobs keeping chunks now, with when each kept its last one. */
const keeping = new Map<RecentChunks, number>();

/** Chunks each blob may keep now. */
export function recentChunkLimit(): number {
  const since = performance.now() - KEEPING_MS;
  for (const [recent, at] of keeping) if (at < since) keeping.delete(recent);
  return Math.max(RECENT_CHUNKS_MIN, Math.min(RECENT_CHUNKS, Math.floor(RECENT_CHUNKS_SHARED / Math.max(1, keeping.size))));
}

/**
 * The last handed-over chunks written to a blob, by offset: a reader close behind the writer
 * copies its bytes from here instead of reading them back from the file. Past the limit, a chunk
 * the last reader already passed goes first, else the oldest. Each kept chunk holds its batch
 * (write-batches.ts) until it is dropped; readers pin the batch (take).
 */
export class RecentChunks {
  readonly #chunks: Buffer[] = [];
  readonly #starts: number[] = [];
  /** Where the last reader asked for bytes: chunks wholly before it were read. */
  #readAt = 0;

  /** Keeps `chunk`, written at `offset`, if its writer handed it over (else it could change). */
  remember(offset: number, chunk: Uint8Array): void {
    if (!isHandedOver(chunk)) return;
    retainBatch(chunk);
    keeping.set(this, performance.now());
    this.#chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.#starts.push(offset);
    // More than one may go: the limit falls as other blobs start keeping chunks.
    while (this.#chunks.length > recentChunkLimit()) {
      const passed = this.#starts.findIndex((start, i) => start + this.#chunks[i]!.byteLength <= this.#readAt);
      const drop = passed >= 0 ? passed : 0;
      releaseBatch(this.#chunks.splice(drop, 1)[0]!);
      this.#starts.splice(drop, 1);
    }
  }

  /** Chunks kept now (tests). */
  get kept(): number {
    return this.#chunks.length;
  }

  /** The kept bytes from `position` to the end of the chunk holding it, if one does. */
  #at(position: number): Buffer | undefined {
    this.#readAt = position;
    for (let i = this.#chunks.length - 1; i >= 0; i--) {
      const start = this.#starts[i]!;
      const bytes = this.#chunks[i]!;
      if (position >= start && position < start + bytes.byteLength) return bytes.subarray(position - start);
    }
    return undefined;
  }

  /**
   * Up to `limit` kept bytes from `position`, for a reader to send as they are: a view that holds
   * the batch until its sender gives it back (download-budget.ts giveChunk, once written), then the
   * batch is reused; a view never given back leaves its batch to the collector. A copy per reader of
   * a crowd pulling one blob held 30 MiB more at 200 clients, and for a lone reader the copy of each
   * 256 KiB cost a memcpy and twice the socket writes (bench/peer-transfer.bench.ts); views that
   * pinned their batch for good left the cold image's batches as garbage in malloc's heap, ~40 MiB
   * of the crowd's peak (bench/memory.bench.ts).
   */
  take(position: number, limit: number): Buffer | undefined {
    const bytes = this.#at(position);
    if (!bytes) return undefined;
    retainBatch(bytes);
    return bytes.subarray(0, Math.min(bytes.byteLength, limit));
  }

  forget(): void {
    keeping.delete(this);
    for (const chunk of this.#chunks) releaseBatch(chunk);
    this.#chunks.length = 0;
    this.#starts.length = 0;
  }
}
