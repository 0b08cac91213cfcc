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
import { ReceiveRoom } from '../lib/receive-room.ts';
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

/**
 * The room the batches being filled and written count against (receive-room.ts): bodies being
 * received wait for it (peer-http.ts, the seed's transport). A batch counts from its take to its
 * first release, when the transfer that took it has written it (or copied it elsewhere): then it
 * is a recent chunk or a sender's view, bounded by their own limits.
 */
export const receiveRoom = new ReceiveRoom();
/** Each batch's count in the room, by backing store: open from its take to its first release. */
const counts = new WeakMap<ArrayBufferLike, { readonly bytes: number; open: boolean }>();
/** A batch dropped before its first release (a transfer broken off) leaves the room when collected. */
const uncounted = new FinalizationRegistry<{ readonly bytes: number; open: boolean }>((count) => closeCount(count));

function closeCount(count: { readonly bytes: number; open: boolean } | undefined): void {
  if (!count?.open) return;
  count.open = false;
  receiveRoom.remove(count.bytes);
}

/** A batch of `size` bytes, held once by the caller (give it back with releaseBatch), handed over. */
export function takeBatch(size: number): Buffer {
  lastTake = Date.now();
  const batch = free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  holds.set(batch.buffer, 1);
  let count = counts.get(batch.buffer);
  if (!count) {
    count = { bytes: size, open: false };
    counts.set(batch.buffer, count);
    uncounted.register(batch.buffer, count);
  }
  count.open = true;
  receiveRoom.add(size);
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
  closeCount(counts.get(store));
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

/** The holds a body being received takes on the batches it passes on in parts (lib/http1-body.ts). */
export const batchHolds = { retain: retainBatch, release: releaseBatch } as const;

// A sender done with a view of a batch (a recent chunk sent as it is) gives it back through the
// download pool, which knows only its own chunks.
setForeignChunkOwner(releaseBatch);

/** Free batches of `size` (tests). */
export function freeBatches(size: number): number {
  return free.get(size)?.length ?? 0;
}
