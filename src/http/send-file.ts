import { open, type FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { OciError } from '../oci/index.ts';
import { isNotFound } from '../lib/fs-errors.ts';
import { MIN_CHUNK_BYTES, chunkBytes, downloadStarted, giveChunk, takeChunk } from '../lib/download-budget.ts';
import { sendRoom, type Grant, type SendRoom } from '../lib/send-room.ts';

/** Largest read: large enough for few syscalls when a response has the budget to itself. */
export const SEND_CHUNK_BYTES = 1024 * 1024;

/**
 * Sends bytes [start, end] of a file in pooled chunks: the next chunk is read while the previous
 * one is being written, and each chunk goes back to the download pool once its write called back.
 * Each chunk's size is the download budget's share at that moment (a crowd of responses gets
 * small chunks, one response alone large ones), and its bytes are taken from the send room
 * (send-room.ts) before it is read: a response whose turn has not come holds no chunk at all.
 * fs.createReadStream allocates a fresh buffer per chunk instead, and on a 2 GB layer the garbage
 * collector's work halved throughput (bench/registry.bench.ts).
 * Opens the file before anything is sent, so a blob removed meanwhile is still a clean 404.
 * `hold` marks the blob in use (the store's eviction leaves it alone) from before the file is
 * opened until the response is over; it returns the release. `room` is the process's shared one
 * but in tests.
 */
export async function sendFileRange(response: ServerResponse, path: string, start: number, end: number, writeHead: () => void, hold?: () => () => void, room: SendRoom = sendRoom): Promise<void> {
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
  /** The write of the previous chunk, which gives its chunk and room back when it calls back. */
  let pending: Promise<void> | undefined;
  /** The chunk being read and its room, until its write is issued. */
  let reading: { buffer: Buffer; grant: Grant } | undefined;
  try {
    writeHead();
    let position = start;
    while (position <= end) {
      const length = Math.min(chunkBytes(SEND_CHUNK_BYTES), end - position + 1);
      // A crowd (chunks at the budget's floor): no read-ahead. Each of a crowd's responses waits on
      // its client's socket most of the time, and a chunk read ahead only doubled what it held
      // meanwhile (600 responses: 38 instead of 19 MiB, bench/memory.bench.ts).
      if (length <= MIN_CHUNK_BYTES && pending) {
        await pending;
        pending = undefined;
      }
      const grant = room.tryTake(length) ?? (await room.take(length));
      reading = { buffer: takeChunk(length), grant };
      if (response.destroyed) return;
      const { bytesRead } = await handle.read(reading.buffer, 0, length, position);
      if (bytesRead === 0) throw new Error(`${path} ended at byte ${position} of ${end + 1}`);
      await pending;
      if (response.destroyed) return;
      const { buffer } = reading;
      reading = undefined;
      pending = new Promise<void>((resolve, reject) =>
        response.write(buffer.subarray(0, bytesRead), (error) => {
          grant.release();
          if (error) return reject(error);
          giveChunk(buffer);
          resolve();
        }),
      );
      // A client gone mid-download fails this write while the next chunk is read: handled here so
      // the rejection is not "unhandled" (which ends the process) before the loop awaits it.
      pending.catch(() => undefined);
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
    if (reading) {
      giveChunk(reading.buffer);
      reading.grant.release();
    }
  }
}
