import { open, type FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { OciError } from '../oci/index.ts';
import { isNotFound } from '../lib/fs-errors.ts';
import { MIN_CHUNK_BYTES, chunkBytes, downloadStarted, giveChunk, takeChunk } from '../lib/download-budget.ts';

/** Largest read: large enough for few syscalls when a response has the budget to itself. */
export const SEND_CHUNK_BYTES = 1024 * 1024;

/**
 * Sends bytes [start, end] of a file with two pooled buffers: the next chunk is read while the
 * previous one is being written, and a buffer is refilled only after the write that carried it
 * called back. Each chunk's size is the download budget's share at that moment (a crowd of
 * responses gets small chunks, one response alone large ones). fs.createReadStream allocates a
 * fresh buffer per chunk instead, and on a 2 GB layer the garbage collector's work halved
 * throughput (bench/registry.bench.ts).
 * Opens the file before anything is sent, so a blob removed meanwhile is still a clean 404.
 * `hold` marks the blob in use (the store's eviction leaves it alone) from before the file is
 * opened until the response is over; it returns the release.
 */
export async function sendFileRange(response: ServerResponse, path: string, start: number, end: number, writeHead: () => void, hold?: () => () => void): Promise<void> {
  const release = hold?.();
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    release?.();
    if (isNotFound(error)) throw new OciError('BLOB_UNKNOWN', 'blob was removed while the request was answered');
    throw error;
  }
  const inFlight = downloadStarted();
  // The buffers this response holds: at most two, one being written and one being read into.
  const held: Array<Buffer | undefined> = [undefined, undefined];
  let pending: Promise<void> | undefined;
  /** The slot of held whose buffer the pending write carries. */
  let writing: number | undefined;
  try {
    writeHead();
    let position = start;
    while (position <= end) {
      const size = chunkBytes(SEND_CHUNK_BYTES);
      // A crowd (chunks at the budget's floor): no read-ahead, one buffer. Each of a crowd's
      // responses waits on its client's socket most of the time, and a chunk read ahead only
      // doubled what it held meanwhile (600 responses: 38 instead of 19 MiB, bench/memory.bench.ts).
      if (size <= MIN_CHUNK_BYTES && pending) {
        await pending;
        pending = undefined;
        writing = undefined;
        if (held[1]) giveChunk(held[1]);
        held[1] = undefined;
      }
      // The other slot's buffer was written before the pending write and called back since: reusable.
      const slot = writing === 0 ? 1 : 0;
      let buffer = held[slot];
      if (buffer?.byteLength !== size) {
        if (buffer) giveChunk(buffer);
        buffer = takeChunk(size);
        held[slot] = buffer;
      }
      const { bytesRead } = await handle.read(buffer, 0, Math.min(size, end - position + 1), position);
      if (bytesRead === 0) throw new Error(`${path} ended at byte ${position} of ${end + 1}`);
      await pending;
      if (response.destroyed) return;
      const chunk = buffer.subarray(0, bytesRead);
      pending = new Promise<void>((resolve, reject) => response.write(chunk, (error) => (error ? reject(error) : resolve())));
      // A client gone mid-download fails this write while the next chunk is read: handled here so
      // the rejection is not "unhandled" (which ends the process) before the loop awaits it.
      pending.catch(() => undefined);
      writing = slot;
      position += bytesRead;
    }
    await pending;
    response.end();
  } catch (error) {
    await pending?.catch(() => undefined);
    // Headers are gone already: the only honest signal left is a broken-off response.
    response.destroy(error as Error);
  } finally {
    inFlight();
    await handle.close().catch(() => undefined);
    release?.();
    for (const buffer of held) if (buffer) giveChunk(buffer);
  }
}
