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

export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
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
