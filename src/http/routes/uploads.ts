import { OciError, parseContentRange, parseDigest, parseRepositoryName, type Digest } from '../../oci/index.ts';
import { rangeHeader, type UploadStatus } from '../../store/index.ts';
import { hasBody, requestBody } from '../body.ts';
import type { RouteContext } from '../context.ts';
import { encodeName, type Endpoint } from '../paths.ts';

type UploadsEndpoint = Extract<Endpoint, { kind: 'uploads' }>;
type UploadEndpoint = Extract<Endpoint, { kind: 'upload' }>;

function limit(ctx: RouteContext<unknown>): number {
  return ctx.services.maxUploadBytes > 0 ? ctx.services.maxUploadBytes : Number.POSITIVE_INFINITY;
}

function requireDigest(query: URLSearchParams): Digest {
  const value = query.get('digest');
  if (value === null || value === '') throw new OciError('DIGEST_INVALID', 'the digest query parameter is required to finish an upload: PUT ...?digest=sha256:<hex>');
  return parseDigest(value);
}

function blobCreated(ctx: RouteContext<unknown>, name: string, digest: Digest): void {
  ctx.reply.code(201).header('location', `/v2/${encodeName(name)}/blobs/${digest.value}`).header('docker-content-digest', digest.value).header('content-length', 0).send();
}

function uploadAccepted(ctx: RouteContext<unknown>, status: UploadStatus, code: 202 | 204): void {
  ctx.reply
    .code(code)
    .header('location', `/v2/${encodeName(status.repository)}/blobs/uploads/${status.id}`)
    .header('range', rangeHeader(status.size))
    .header('docker-upload-uuid', status.id)
    .header('oci-chunk-min-length', 0)
    .header('content-length', 0)
    .send();
}

/** POST: a cross-repository mount, a monolithic upload (`?digest=`), or a new session. */
export async function startUpload(ctx: RouteContext<UploadsEndpoint>): Promise<void> {
  const { endpoint, services, query, request } = ctx;
  const { name } = endpoint;
  const mount = query.get('mount');
  if (mount !== null) {
    const digest = parseDigest(mount);
    const from = query.get('from');
    if (from !== null && from !== '') {
      parseRepositoryName(from);
      if ((await services.blobs.stat({ name: from, digest })) !== undefined) {
        services.store.blobs.touch(digest); // about to be referenced by a manifest: recently used
        await services.store.repositories.linkBlob(name, digest);
        services.logger.info({ repository: name, from, digest: digest.value }, 'blob mounted');
        return blobCreated(ctx, name, digest);
      }
    } else if ((await services.store.blobs.stat(digest)) !== undefined && services.blobs.isMirrored(name)) {
      services.store.blobs.touch(digest);
      await services.store.repositories.linkBlob(name, digest);
      return blobCreated(ctx, name, digest);
    }
    // Not mountable: the spec says to fall back to a new upload session.
  }
  const monolithic = query.get('digest');
  if (monolithic !== null && mount === null) {
    const digest = parseDigest(monolithic);
    const writer = await services.store.blobs.createWriter(digest.algorithm);
    try {
      await writer.writeStream(requestBody(request.raw), limit(ctx));
    } catch (error) {
      await writer.abort();
      throw error;
    }
    await writer.commit(digest, declaredLength(request.headers['content-length']));
    await services.store.repositories.linkBlob(name, digest);
    services.logger.info({ repository: name, digest: digest.value }, 'blob pushed (monolithic)');
    return blobCreated(ctx, name, digest);
  }
  request.raw.resume();
  const status = await services.store.uploads.create(name);
  return uploadAccepted(ctx, status, 202);
}

export async function patchUpload(ctx: RouteContext<UploadEndpoint>): Promise<void> {
  const { endpoint, services, request } = ctx;
  const contentRange = request.headers['content-range'];
  const range = contentRange !== undefined ? parseContentRange(contentRange) : undefined;
  const status = await services.store.uploads.append(endpoint.name, endpoint.id, requestBody(request.raw), {
    ...(range ? { start: range.start, end: range.end } : {}),
    maxBytes: limit(ctx),
  });
  return uploadAccepted(ctx, status, 202);
}

export async function finishUpload(ctx: RouteContext<UploadEndpoint>): Promise<void> {
  const { endpoint, services, request, query } = ctx;
  const digest = requireDigest(query);
  const body = hasBody(request.raw) ? requestBody(request.raw) : undefined;
  if (!body) request.raw.resume();
  const { size } = await services.store.uploads.finish(endpoint.name, endpoint.id, digest, body, limit(ctx));
  await services.store.repositories.linkBlob(endpoint.name, digest);
  services.logger.info({ repository: endpoint.name, digest: digest.value, size }, 'blob pushed');
  return blobCreated(ctx, endpoint.name, digest);
}

export async function uploadStatus(ctx: RouteContext<UploadEndpoint>): Promise<void> {
  const status = await ctx.services.store.uploads.status(ctx.endpoint.name, ctx.endpoint.id);
  return uploadAccepted(ctx, status, 204);
}

export async function cancelUpload(ctx: RouteContext<UploadEndpoint>): Promise<void> {
  await ctx.services.store.uploads.status(ctx.endpoint.name, ctx.endpoint.id);
  await ctx.services.store.uploads.cancel(ctx.endpoint.name, ctx.endpoint.id);
  return void ctx.reply.code(204).header('content-length', 0).send();
}

function declaredLength(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = Number(header);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
