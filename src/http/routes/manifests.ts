import { OciError, acceptsMediaType, digestOf, parseManifest, parseReference, MAX_MANIFEST_BYTES, type Descriptor, type ParsedManifest, type Reference } from '../../oci/index.ts';
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
  const parsed = parseManifest(body, request.headers['content-type']);
  const digest = digestOf(body, reference.kind === 'digest' ? reference.digest.algorithm : 'sha256');
  if (reference.kind === 'digest' && reference.digest.value !== digest.value) {
    throw new OciError('DIGEST_INVALID', `manifest body has digest ${digest.value}, not ${reference.digest.value} as its URL says`);
  }
  await assertReferencesPresent(ctx, name, parsed);
  await services.store.manifests.put(name, body, parsed, reference.kind === 'tag' ? reference.tag : undefined, digest, { pushed: true });
  services.logger.info({ repository: name, reference: endpoint.reference, digest: digest.value }, 'manifest pushed');
  reply.code(201).header('location', `/v2/${encodeName(name)}/manifests/${digest.value}`).header('docker-content-digest', digest.value).header('content-length', 0);
  if (parsed.subject) reply.header('oci-subject', parsed.subject.digest.value);
  return void reply.send();
}

/** Every blob a manifest names must be in the repository, every child manifest too (a subject need not be). */
async function assertReferencesPresent(ctx: RouteContext<ManifestEndpoint>, name: string, parsed: ParsedManifest): Promise<void> {
  const { services } = ctx;
  const missing: Descriptor[] = [];
  for (const blob of parsed.blobs) {
    const size = await services.blobs.stat({ name, digest: blob.digest });
    if (size === undefined) missing.push(blob);
    else if (size !== blob.size) {
      throw new OciError('MANIFEST_INVALID', `descriptor for ${blob.digest.value} says ${blob.size} bytes but the blob has ${size}`, { digest: blob.digest.value });
    }
  }
  for (const child of parsed.manifests) {
    if (!(await services.store.repositories.hasManifest(name, child.digest))) missing.push(child);
  }
  if (missing.length > 0) {
    throw new OciError('MANIFEST_BLOB_UNKNOWN', `manifest references ${missing.length} blob(s) or manifest(s) not in ${name}; push them first: ${missing.map((d) => d.digest.value).join(', ')}`, { digests: missing.map((d) => d.digest.value) });
  }
}

export async function deleteManifest(ctx: RouteContext<ManifestEndpoint>): Promise<void> {
  const { endpoint, services, reply } = ctx;
  const reference = parseReference(endpoint.reference);
  const repositories = services.store.repositories;
  if (reference.kind === 'tag') {
    if (!(await repositories.untag(endpoint.name, reference.tag))) {
      throw new OciError('MANIFEST_UNKNOWN', `tag ${endpoint.name}:${reference.tag} is unknown`);
    }
  } else {
    if (!(await repositories.hasManifest(endpoint.name, reference.digest))) {
      throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference.digest.value} is not in ${endpoint.name}`);
    }
    await repositories.unlinkManifest(endpoint.name, reference.digest);
  }
  services.logger.info({ repository: endpoint.name, reference: endpoint.reference }, 'manifest deleted');
  return void reply.code(202).header('content-length', 0).send();
}
