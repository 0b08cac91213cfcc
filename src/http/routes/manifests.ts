import { OciError, acceptsMediaType, parseReference, MAX_MANIFEST_BYTES, MEDIA_TYPES, type Descriptor, type ParsedManifest, type Reference } from '../../oci/index.ts';
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
  let manifest = await services.manifests.resolve(endpoint.name, reference);
  const defaultPlatform = reference.kind === 'tag' ? defaultPlatformEntry(manifest, request.headers.accept) : undefined;
  // A client that takes no manifest list gets, by tag, the list's linux/amd64 image, as registry:2 answers it.
  if (defaultPlatform) manifest = await services.manifests.resolve(endpoint.name, { kind: 'digest', digest: defaultPlatform.digest });
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

/** The linux/amd64 entry of a Docker manifest list the client's Accept does not take; undefined otherwise. */
function defaultPlatformEntry(manifest: { readonly mediaType: string; readonly parsed: ParsedManifest }, accept: string | string[] | undefined): Descriptor | undefined {
  if (manifest.mediaType !== MEDIA_TYPES.dockerManifestList || acceptsMediaType(accept, manifest.mediaType)) return undefined;
  return manifest.parsed.manifests.find((entry) => entry.platform?.os === 'linux' && entry.platform.architecture === 'amd64');
}
