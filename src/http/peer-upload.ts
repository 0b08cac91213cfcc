import { open } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { throttled, type RateLimit } from '../distribute/rate-limit.ts';
import { OciError } from '../oci/index.ts';
import { isNotFound } from '../lib/fs-errors.ts';
import { ServeSlots, BUSY_RETRY_AFTER_S } from '../distribute/serve-slots.ts';

/**
 * The peer port's two neighbourly hooks: at most `slots.max` piece requests served at once (the
 * rest get a quick 503 "busy" with Retry-After, which sends the asker to another holder), and the
 * upload cap on the bytes sent. Kept apart from the data plane's routing so either can change alone.
 */
export interface PeerUploadHooks {
  readonly slots: ServeSlots;
  readonly upload: RateLimit;
}

/**
 * Takes a serving slot for this response, released when it closes; false: answer busy. The piece
 * is named by the digest and the first byte asked for (askers ask for whole pieces).
 */
export function takeServeSlot(hooks: PeerUploadHooks | undefined, response: ServerResponse, digest: string, range: string | undefined): boolean {
  if (!hooks) return true;
  const start = /^\s*bytes\s*=\s*(\d+)\s*-/i.exec(range ?? '')?.[1];
  const release = hooks.slots.acquire(start === undefined ? undefined : `${digest}@${start}`);
  if (!release) return false;
  response.once('close', release);
  return true;
}

/** The quick "busy" answer: not a failure of the asker's piece, a hint to ask elsewhere or soon. */
export function busyError(slots: ServeSlots): OciError {
  return new OciError('UNAVAILABLE', `busy: serving ${slots.inUse} of at most ${slots.max} piece requests (or that piece to others already); ask another holder or retry after ${BUSY_RETRY_AFTER_S}s`, undefined, { status: 503 });
}

/** The "busy" answer of an owner whose seed reads are all taken: the asker waits and asks again, never the seed. */
export function ownerBusyError(): OciError {
  return new OciError('UNAVAILABLE', `busy: this host's seed reads are all taken; retry after ${BUSY_RETRY_AFTER_S}s`, undefined, { status: 503 });
}

/** Whether bytes sent to peers must go through the upload cap. */
export function uploadCapped(hooks: PeerUploadHooks | undefined): hooks is PeerUploadHooks {
  return hooks !== undefined && hooks.upload.limit > 0;
}

/** Bytes [start, end] of a stored blob, at most as fast as the cap; opened before anything is sent (a removed blob is a clean 404). */
export async function openCappedFile(path: string, start: number, end: number, hold: () => () => void): Promise<Readable> {
  const release = hold();
  try {
    const handle = await open(path, 'r');
    const stream = handle.createReadStream({ start, end, autoClose: true });
    stream.once('close', release);
    return stream;
  } catch (error) {
    release();
    if (isNotFound(error)) throw new OciError('BLOB_UNKNOWN', 'blob was removed while the request was answered');
    throw error;
  }
}

/** Sends `source` at most as fast as the upload cap allows (measured either way). */
export async function sendMetered(source: Readable, response: ServerResponse, upload: RateLimit | undefined): Promise<void> {
  // Without a cap the bytes are only measured, with no wrapper (a promise per chunk) in the way.
  const capped = upload !== undefined && upload.limit > 0;
  if (upload && !capped) source.on('data', (chunk: Buffer) => upload.count(chunk.byteLength));
  const body = capped ? Readable.from(throttled(source as AsyncIterable<Buffer>, [upload]), { objectMode: false }) : source;
  // A peer gone mid-piece: the source stops at once (a throttled wrapper would wait for its next chunk).
  response.once('close', () => source.destroy());
  await pipeline(body, response).catch(() => {
    source.destroy();
    response.destroy();
  });
}
