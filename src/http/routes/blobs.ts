import { OciError, parseDigest, parseRangeHeader } from '../../oci/index.ts';
import type { RouteContext } from '../context.ts';
import { sendFileRange } from '../send-file.ts';
import { sendArriving } from '../send-stream.ts';
import type { Endpoint } from '../paths.ts';

type BlobEndpoint = Extract<Endpoint, { kind: 'blob' }>;

function unknownBlob(name: string, digest: string): OciError {
  return new OciError('BLOB_UNKNOWN', `blob ${digest} is not in repository ${name}`, { digest });
}

export async function headBlob(ctx: RouteContext<BlobEndpoint>): Promise<void> {
  const { endpoint, services, reply } = ctx;
  const digest = parseDigest(endpoint.digest);
  const size = await services.blobs.stat({ name: endpoint.name, digest });
  if (size === undefined) throw unknownBlob(endpoint.name, digest.value);
  return void reply
    .code(200)
    .header('content-type', 'application/octet-stream')
    .header('content-length', size)
    .header('docker-content-digest', digest.value)
    .header('accept-ranges', 'bytes')
    .header('etag', `"${digest.value}"`)
    .send();
}

export async function getBlob(ctx: RouteContext<BlobEndpoint>, retried = false): Promise<void> {
  const { endpoint, services, reply, request } = ctx;
  const digest = parseDigest(endpoint.digest);
  const rangeHeader = request.headers.range;
  let range: { start: number; end: number } | undefined;
  const opened = await services.blobs.open({ name: endpoint.name, digest }, (size) => {
    range = parseRangeHeader(rangeHeader, size);
    return range;
  }, rangeHeader !== undefined);
  if (!opened) throw unknownBlob(endpoint.name, digest.value);
  reply
    .header('content-type', 'application/octet-stream')
    .header('docker-content-digest', digest.value)
    .header('accept-ranges', 'bytes')
    .header('etag', `"${digest.value}"`)
    .header('cache-control', 'max-age=31536000');
  if (range) {
    reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${opened.size}`).header('content-length', range.end - range.start + 1);
  } else {
    reply.code(200).header('content-length', opened.size);
  }
  const raw = reply.raw;
  const writeHead = (): void => {
    reply.hijack();
    raw.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
  };
  if (opened.origin !== 'local') {
    // Once the headers are out, a failure can only break the body off (send-stream.ts): the client
    // sees a short read ("unexpected EOF") and nothing else, so the reason is logged here.
    opened.stream.once('error', (error: Error) => {
      if (raw.headersSent) request.log.warn({ repository: endpoint.name, digest: digest.value, origin: opened.origin, err: error }, 'blob download broken off');
    });
    return sendArriving(raw, opened.stream, writeHead);
  }
  if (opened.size === 0) return void reply.send();
  // Local hits bypass fastify's stream piping for the reused-buffer sender.
  const { start, end } = range ?? { start: 0, end: opened.size - 1 };
  try {
    await sendFileRange(raw, opened.path, start, end, writeHead, () => services.blobs.hold(digest));
  } catch (error) {
    // Evicted between the lookup and the open (nothing was sent yet): ask again, which fetches
    // it anew in a mirrored repository.
    if (!retried && error instanceof OciError && error.code === 'BLOB_UNKNOWN') return getBlob(ctx, true);
    throw error;
  }
}

export async function deleteBlob(ctx: RouteContext<BlobEndpoint>): Promise<void> {
  const { endpoint, services, reply } = ctx;
  const digest = parseDigest(endpoint.digest);
  await services.blobs.delete(endpoint.name, { name: endpoint.name, digest });
  services.logger.info({ repository: endpoint.name, digest: digest.value }, 'blob unlinked from repository');
  return void reply.code(202).header('content-length', 0).header('docker-content-digest', digest.value).send();
}
