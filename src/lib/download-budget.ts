// One budget for the bytes a node holds in memory for the downloads it serves (clients and peers
// alike): each response reads and writes in chunks sized by how many are in flight, so that two
// chunks per response (one being written, one read ahead) stay near the budget whatever the crowd.
// Measured (bench/memory.bench.ts): 200 clients pulling a cold 4-layer image at once, ~600
// responses of 256 KiB to 1 MiB chunks each, peaked the daemon at 530–716 MiB; one client alone is
// still served with full-size chunks.

/** Bytes of download buffers the node aims to hold at once, all responses together. */
export const DOWNLOAD_BUDGET_BYTES = 24 * 1024 * 1024;
/**
 * Smallest chunk: below this, syscalls and promises per byte cost more than the memory saved
 * (16 KiB chunks took 200 clients' daemon CPU from 31 to 58 s; 64 KiB instead of 32 took it from
 * 45-54 to 27-37 CPU-s, bench/memory.bench.ts). From DOWNLOAD_BUDGET_BYTES / (2 * MIN_CHUNK_BYTES)
 * = 192 responses on, chunks stay at this size and responses stop reading a chunk ahead. What a
 * crowd's responses hold together is bounded by the send room (send-room.ts), not by their number.
 */
export const MIN_CHUNK_BYTES = 64 * 1024;
export const MAX_CHUNK_BYTES = 1024 * 1024;

let inFlight = 0;

/** Counts one response in flight until the returned release is called (more calls are harmless). */
export function downloadStarted(): () => void {
  inFlight++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    inFlight--;
  };
}

export function downloadsInFlight(): number {
  return inFlight;
}

/** The chunk each response should use now: a power of two in [MIN_CHUNK_BYTES, max]. */
export function chunkBytes(max = MAX_CHUNK_BYTES): number {
  const share = DOWNLOAD_BUDGET_BYTES / (2 * Math.max(1, inFlight));
  const power = 2 ** Math.floor(Math.log2(Math.max(1, share)));
  return Math.max(MIN_CHUNK_BYTES, Math.min(max, power));
}

/** Bytes of free chunks kept for the next reads, so steady-state serving allocates nothing. */
export const POOL_LIMIT_BYTES = 4 * 1024 * 1024;
/** Free chunks by size. */
const pool = new Map<number, Buffer[]>();
/** Backing stores this pool made: only those are ever taken back. */
const ours = new WeakSet<ArrayBufferLike>();
let pooledBytes = 0;

/** Bytes of free chunks the pool holds now. */
export function pooledChunkBytes(): number {
  return pooledBytes;
}

/**
 * A buffer for a chunk of up to `length` bytes: its size is the power of two (at least
 * MIN_CHUNK_BYTES) that holds them, from the free chunks when there is one of that size. Give it
 * back (giveChunk) once the bytes read into it are written; one never given back is simply
 * garbage, as a fresh buffer would be. Fresh buffers per chunk were the largest part of the peak:
 * ArrayBuffers live outside V8's heap, and V8 collects them only after tens of MiB accumulate.
 */
export function takeChunk(length: number): Buffer {
  const size = Math.max(MIN_CHUNK_BYTES, 2 ** Math.ceil(Math.log2(Math.max(1, length))));
  const free = pool.get(size)?.pop();
  if (free) {
    pooledBytes -= size;
    ours.add(free.buffer);
    return free;
  }
  const buffer = Buffer.allocUnsafeSlow(size);
  ours.add(buffer.buffer);
  return buffer;
}

/**
 * Frees pool space for a chunk of `size` by releasing free chunks of other sizes (left from a
 * moment when responses were fewer or more: the size in demand follows the crowd); false when
 * the pool is full of chunks of this very size.
 */
function makeRoom(size: number): boolean {
  for (const [other, free] of pool) {
    if (other === size) continue;
    while (pooledBytes + size > POOL_LIMIT_BYTES) {
      const chunk = free.pop();
      if (!chunk) break;
      pooledBytes -= other;
      release(chunk.buffer);
    }
  }
  return pooledBytes + size <= POOL_LIMIT_BYTES;
}

/**
 * Frees a chunk's memory now rather than at the next full garbage collection: detaching the
 * ArrayBuffer drops its backing store (every view of it reads as empty from then on). Left to
 * the collector, chunks dropped while a crowd drained (sizes doubling as responses finish) piled
 * up as tens of MiB of garbage in malloc's heap, the crowd's RSS peak (bench/memory.bench.ts).
 */
function release(store: ArrayBufferLike): void {
  ours.delete(store);
  freeNow(store);
}

/**
 * Drops an ArrayBuffer's memory now (every view of it reads as empty from then on): for buffers
 * nobody reads or writes any more, which the garbage collector would free only at its next full
 * collection.
 */
export function freeNow(store: ArrayBufferLike): void {
  // ES2024's ArrayBuffer.prototype.transfer (Node 22 has it; the project's lib is ES2023).
  const detachable = store as ArrayBufferLike & { readonly detached?: boolean; transfer?: (length: number) => ArrayBuffer };
  if (detachable.detached === false) detachable.transfer?.(0);
}

/** Where a given chunk that is not this pool's goes: a buffer pool of a higher layer (setForeignChunkOwner). */
let giveElsewhere: (view: Uint8Array) => void = () => undefined;

/**
 * Hands the chunks giveChunk receives that are not this pool's to `give`, once per give: a pool
 * that lends views of its buffers to senders (write-batches.ts: a blob's recent chunks) learns
 * when a sender is done with one and can reuse it, instead of leaving it to the garbage collector.
 */
export function setForeignChunkOwner(give: (view: Uint8Array) => void): void {
  giveElsewhere = give;
}

/**
 * Returns the chunk `view` (or any view into it) was read into, once nothing reads it any more
 * (its write called back): kept for the next read, or freed at once when the pool is full.
 * Nothing but this pool's own chunks is taken (others go to setForeignChunkOwner's owner); a second
 * give of the same chunk is ignored.
 */
export function giveChunk(view: Uint8Array): void {
  const store = view.buffer;
  if (!ours.has(store)) return giveElsewhere(view);
  if (!makeRoom(store.byteLength)) return release(store);
  // Out of the set while it is free: a second give of the same chunk is ignored.
  ours.delete(store);
  pooledBytes += store.byteLength;
  const free = pool.get(store.byteLength) ?? [];
  free.push(Buffer.from(store, 0, store.byteLength));
  pool.set(store.byteLength, free);
}
