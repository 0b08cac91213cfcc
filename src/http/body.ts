import type { IncomingMessage } from 'node:http';
import { OciError } from '../oci/index.ts';
import { paceWatched, type PaceFloor } from '../lib/pace-watch.ts';

/** Reads a small body (a manifest) into memory, refusing more than `limit` bytes before reading them all. */
export async function readBodyLimited(request: IncomingMessage, limit: number, tooLarge: () => OciError): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    request.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of requestBody(request)) {
    total += (chunk as Buffer).byteLength;
    if (total > limit) {
      request.resume();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/**
 * The request body for a route that streams it into the store. Not the request itself: a
 * `for await` over a stream destroys it when the loop exits early (a refused size, a full disk),
 * and a destroyed request can no longer be drained; its socket then stays paused with the rest of
 * the body unread, and the client's next request on that keep-alive connection hangs until the
 * server's keep-alive timeout. Left intact, the error answer drains it (see sendError).
 */
export function requestBody(request: IncomingMessage, pace: PaceFloor = UPLOAD_PACE): AsyncIterable<Uint8Array> {
  const chunks = request.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
  return paceWatched(chunks, pace, (error) => request.destroy(error));
}

/**
 * A body that sends less than this over a minute (nothing, or a byte a second) is cut off: each
 * such request held a socket and an open upload file for as long as its sender liked. What was
 * received stays (a chunked upload resumes from the Range it reports).
 */
export const UPLOAD_PACE: PaceFloor = {
  floorBytesPerSecond: 1024,
  windowMs: 60_000,
  tooSlow: (bytes, ms) => new OciError('BLOB_UPLOAD_INVALID', `the request body sent ${bytes} bytes in ${Math.round(ms / 1000)} s, under 1 KiB/s: cut off; resume from the upload's Range`),
};

/** Whether the request carries a body at all (a PUT that finishes an upload may carry none). */
export function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return request.headers['transfer-encoding'] !== undefined;
}
