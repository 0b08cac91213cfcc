import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { OciError } from '../oci/index.ts';

/** Turns anything thrown by a route into the spec's JSON error body. Unknown errors are logged and become UNKNOWN 500. */
export function toOciError(error: unknown): OciError {
  if (error instanceof OciError) return error;
  const fastifyError = error as Partial<FastifyError> & { code?: string };
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new OciError('SIZE_INVALID', 'request body is too large', undefined, { status: 413 });
  if (fastifyError.code === 'ENOSPC' || fastifyError.code === 'EDQUOT') {
    return new OciError('UNAVAILABLE', 'the data directory is full: free space (shoal gc removes unreferenced blobs; --max-disk-usage keeps room by evicting pulled ones) or raise the disk, then retry', undefined, { status: 507 });
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new OciError('UNSUPPORTED', fastifyError.message ?? 'bad request', undefined, { status: fastifyError.statusCode });
  }
  return new OciError('UNKNOWN', 'internal error; see the shoal log', undefined, { cause: error });
}

const DISCONNECT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

/**
 * The client went away mid-request (node's "aborted" on a request body, a write to a closed
 * socket). Ordinary on a registry (docker cancels pulls, CI jobs are killed): not the node's error.
 * Only when this request's own socket is gone: an upstream's reset with the client still there is
 * a real failure.
 */
export function isClientGone(error: unknown, request: FastifyRequest): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  const socketGone = request.raw.destroyed || request.raw.socket?.destroyed === true;
  return socketGone && typeof code === 'string' && DISCONNECT_CODES.has(code);
}

export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  if (isClientGone(error, request)) {
    request.log.info({ url: request.url, method: request.method, code: (error as { code: string }).code }, 'client went away');
    reply.raw.destroy();
    return;
  }
  const oci = toOciError(error);
  if (oci.code === 'UNKNOWN') request.log.error({ err: error, url: request.url, method: request.method }, 'request failed');
  else request.log.debug({ code: oci.code, message: oci.message, url: request.url }, 'request refused');
  if (reply.sent || reply.raw.headersSent) {
    reply.raw.destroy();
    return;
  }
  // The body of a refused upload may still be arriving; drain it so the connection stays usable.
  if (!request.raw.readableEnded) request.raw.resume();
  reply.code(oci.status).headers(oci.headers).header('content-type', 'application/json; charset=utf-8');
  if (request.method === 'HEAD') {
    reply.header('content-length', 0).send();
    return;
  }
  reply.send(JSON.stringify(oci.toBody()));
}
