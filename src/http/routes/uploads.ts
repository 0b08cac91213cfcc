import { OciError, parseContentRange, parseDigest, parseRepositoryName, uploadRangeHeader, type Digest } from '../../oci/index.ts';
import type { UploadStatus } from '../../distribute/push-service.ts';
import { hasBody, requestBody } from '../body.ts';
import type { RouteContext } from '../context.ts';
import { encodeName, type Endpoint } from '../paths.ts';

type UploadsEndpoint = Extract<Endpoint, { kind: 'uploads' }>;
type UploadEndpoint = Extract<Endpoint, { kind: 'upload' }>;

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
    .header('range', uploadRangeHeader(status.size))
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
    const source = from !== null && from !== '' ? parseRepositoryName(from) : undefined;
    if (await services.push.mount(name, digest, source)) return blobCreated(ctx, name, digest);
    // Not mountable: the spec says to fall back to a new upload session.
  }
  const monolithic = query.get('digest');
  if (monolithic !== null && mount === null) {
    const digest = parseDigest(monolithic);
    await services.push.putBlob(name, digest, requestBody(request.raw), declaredLength(request.headers['content-length']));
    return blobCreated(ctx, name, digest);
  }
  request.raw.resume();
  return uploadAccepted(ctx, await services.push.startUpload(name), 202);
}

export async function patchUpload(ctx: RouteContext<UploadEndpoint>): Promise<void> {
  const { endpoint, services, request } = ctx;
  const { headers } = request;
  return uploadAccepted(ctx, await services.push.appendUpload(endpoint.name, endpoint.id, requestBody(request.raw), contentRangeOf(headers['content-range']), declaredLength(headers['content-length'])), 202);
}

function contentRangeOf(header: string | undefined): ReturnType<typeof parseContentRange> | undefined {
  return header !== undefined ? parseContentRange(header) : undefined;
}

export async function finishUpload(ctx: RouteContext<UploadEndpoint>): Promise<void> {
  const { endpoint, services, request, query } = ctx;
  const digest = requireDigest(query);
  const body = hasBody(request.raw) ? requestBody(request.raw) : undefined;
  if (!body) request.raw.resume();
  await services.push.finishUpload(endpoint.name, endpoint.id, digest, body, body ? contentRangeOf(request.headers['content-range']) : undefined, declaredLength(request.headers['content-length']));
  return blobCreated(ctx, endpoint.name, digest);
}

export async function uploadStatus(ctx: RouteContext<UploadEndpoint>): Promise<void> {
  return uploadAccepted(ctx, await ctx.services.push.uploadStatus(ctx.endpoint.name, ctx.endpoint.id), 204);
}

export async function cancelUpload(ctx: RouteContext<UploadEndpoint>): Promise<void> {
  await ctx.services.push.cancelUpload(ctx.endpoint.name, ctx.endpoint.id);
  return void ctx.reply.code(204).header('content-length', 0).send();
}

function declaredLength(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = Number(header);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
