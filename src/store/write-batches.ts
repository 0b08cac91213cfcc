// Buffers that received bytes are gathered in before they are written to a blob (coalesce.ts),
// reused instead of allocated per batch. A fresh 512 KiB ArrayBuffer per batch lives outside V8's
// heap, and V8 counts such memory toward its limit for a full collection: a peer transfer (two
// pieces at once) held 10–40 MiB of dead batches and socket chunks between collections and ran a
// mark-compact every ~14 MiB received, 36 per 512 MiB blob, most of the receiver's CPU
// (bench/peer-transfer.bench.ts, measured with perf). A batch goes back to the free list once
// nobody holds it any more: the transfer that filled it (until its write is done), the blob's
// recent chunks (handed-over.ts) and the senders of views of them (until written) count their
// holds. A hold never given back only makes the batch garbage, as it was before; a batch is never
// reused while someone holds it.
import { freeNow, setForeignChunkOwner } from '../lib/download-budget.ts';
import { handOver } from './hand-over-marks.ts';

/**
 * Free batches kept for the next transfers, of each size: two transfers in flight hold up to ~5
 * each (read ahead, being filled, being written) and a blob's recent chunks 4 more.
 */
export const FREE_LIMIT = 16;
/** Free batches are dropped after this long without a take: an idle node holds none. */
const IDLE_DROP_MS = 5_000;

const free = new Map<number, Buffer[]>();
let lastTake = 0;
let idleTimer: NodeJS.Timeout | undefined;

function dropWhenIdle(): void {
  if (Date.now() - lastTake >= IDLE_DROP_MS) {
    for (const list of free.values()) for (const batch of list) freeNow(batch.buffer);
    free.clear();
    idleTimer = undefined;
    return;
  }
  idleTimer = setTimeout(dropWhenIdle, IDLE_DROP_MS);
  idleTimer.unref();
}
/** Holds on each batch of ours in use, by its backing store. */
const holds = new WeakMap<ArrayBufferLike, number>();

/** A batch of `size` bytes, held once by the caller (give it back with releaseBatch), handed over. */
export function takeBatch(size: number): Buffer {
  lastTake = Date.now();
  const batch = free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  holds.set(batch.buffer, 1);
  handOver(batch);
  return batch;
}

/** One more hold on the batch `view` is part of, if it is one of ours in use. */
export function retainBatch(view: Uint8Array): void {
  const count = holds.get(view.buffer);
  if (count !== undefined) holds.set(view.buffer, count + 1);
}

/** Gives up one hold on the batch `view` is part of; the last one puts it back on the free list. */
export function releaseBatch(view: Uint8Array): void {
  const store = view.buffer;
  const count = holds.get(store);
  if (count === undefined) return;
  if (count > 1) {
    holds.set(store, count - 1);
    return;
  }
  holds.delete(store);
  const list = free.get(store.byteLength) ?? [];
  // Freed at once rather than left to the next full collection: a crowd's cold fetch dropped its
  // batches as garbage into malloc's heap, which never shrinks back (bench/memory.bench.ts).
  if (list.length >= FREE_LIMIT) return freeNow(store);
  list.push(Buffer.from(store, 0, store.byteLength));
  free.set(store.byteLength, list);
  if (!idleTimer) dropWhenIdle();
}

// A sender done with a view of a batch (a recent chunk sent as it is) gives it back through the
// download pool, which knows only its own chunks.
setForeignChunkOwner(releaseBatch);

/** Free batches of `size` (tests). */
export function freeBatches(size: number): number {
  return free.get(size)?.length ?? 0;
}
