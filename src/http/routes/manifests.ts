import { OciError, acceptsMediaType, parseReference, MAX_MANIFEST_BYTES, type Reference } from '../../oci/index.ts';
import { readBodyLimited } from '../body.ts';
import type { RouteContext } from '../context.ts';
import { encodeName, type Endpoint } from '../paths.ts';

type ManifestEndpoint = Extract<Endpoint, { kind: 'manifest' }>;

/**
 * A reference that is no tag or digest names no manifest: GET and HEAD answer 404 as the OCI
 * conformance suite (v1.1.1) expects; a PUT or DELETE of one is the client's error, 400.
 */
function readReference(text: string, name: string): Reference {
  try {
    return parseReference(text);
  } catch (error) {
    if (!(error instanceof OciError)) throw error;
    throw new OciError('MANIFEST_UNKNOWN', `no manifest ${JSON.stringify(text.slice(0, 140))} in ${name}: ${error.message}`);
  }
}

export async function getManifest(ctx: RouteContext<ManifestEndpoint>, head: boolean): Promise<void> {
  const { endpoint, services, reply, request } = ctx;
  const reference = readReference(endpoint.reference, endpoint.name);
  const manifest = await services.manifests.resolve(endpoint.name, reference);
  if (!acceptsMediaType(request.headers.accept, manifest.mediaType)) {
    throw new OciError('MANIFEST_UNKNOWN', `manifest is ${manifest.mediaType}, which the client's Accept header does not list`, { mediaType: manifest.mediaType });
  }
  reply
    .code(200)
    .header('content-type', manifest.mediaType)
    .header('docker-content-digest', manifest.digest.value)
    .header('etag', `"${manifest.digest.value}"`)
    .header('content-length', manifest.body.byteLength);
  if (head) return void reply.send();
  return void reply.send(manifest.body);
}

export async function putManifest(ctx: RouteContext<ManifestEndpoint>): Promise<void> {
  const { endpoint, services, reply, request } = ctx;
  const { name } = endpoint;
  const reference = parseReference(endpoint.reference);
  const body = await readBodyLimited(request.raw, MAX_MANIFEST_BYTES, () => new OciError('MANIFEST_INVALID', `manifest is larger than ${MAX_MANIFEST_BYTES} bytes`, undefined, { status: 413 }));
  const { digest, subject } = await services.push.putManifest(name, reference, body, request.headers['content-type']);
  reply.code(201).header('location', `/v2/${encodeName(name)}/manifests/${digest.value}`).header('docker-content-digest', digest.value).header('content-length', 0);
  if (subject) reply.header('oci-subject', subject.value);
  return void reply.send();
}

export async function deleteManifest(ctx: RouteContext<ManifestEndpoint>): Promise<void> {
  const { endpoint, services, reply } = ctx;
  await services.push.deleteManifest(endpoint.name, parseReference(endpoint.reference));
  return void reply.code(202).header('content-length', 0).send();
}
