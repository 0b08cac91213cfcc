import type { IncomingMessage } from 'node:http';
import { OciError } from '../oci/index.ts';

/** Reads a small body (a manifest) into memory, refusing more than `limit` bytes before reading them all. */
export async function readBodyLimited(request: IncomingMessage, limit: number, tooLarge: () => OciError): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    request.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request) {
    total += (chunk as Buffer).byteLength;
    if (total > limit) {
      request.resume();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/** Whether the request carries a body at all (a PUT that finishes an upload may carry none). */
export function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return request.headers['transfer-encoding'] !== undefined;
}
