// `shoal prefetch`, first half: from an image name to the blobs to fetch. The manifest by tag or
// digest from the local daemon, every child of an index (or the --platform ones), their blobs.
import { request, type Dispatcher } from 'undici';
import { daemonAuthHeaders } from './daemon-auth.ts';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, parseManifest, type ParsedManifest } from '../oci/index.ts';
import { DaemonRequestError, DaemonUnreachableError, type NodeStatus } from './daemon-client.ts';
import { formatImageRef, formatPlatform, platformMatches, type ImageRef, type Platform } from './image-ref.ts';

const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');
/** Layers registries do not hold (Windows base layers): their bytes live at the descriptor's urls. */
const FOREIGN_LAYER = /\.foreign\.|nondistributable/;

export interface Blob {
  readonly digest: string;
  readonly size: number;
}

export interface ResolvedImage {
  readonly ref: ImageRef;
  readonly blobs: readonly Blob[];
  /** Blobs already fetched for an earlier image of this run: not fetched again. */
  readonly shared: number;
  readonly platforms: readonly string[];
  readonly manifests: number;
}

export async function resolveImage(
  ref: ImageRef, platform: Platform | undefined, baseUrl: string, dispatcher: Dispatcher, already: ReadonlySet<string>, status: NodeStatus,
): Promise<ResolvedImage> {
  const blobs = new Map<string, Blob>();
  const platforms: string[] = [];
  let manifests = 0;
  const visit = async (reference: string, depth: number, childPlatform: string | undefined): Promise<void> => {
    const manifest = await getManifest(ref, reference, baseUrl, dispatcher, status);
    manifests += 1;
    if (INDEX_MEDIA_TYPES.includes(manifest.mediaType)) {
      if (depth > 2) throw new Error('indexes nested deeper than 2 levels');
      const children = manifest.manifests;
      const chosen = platform === undefined
        ? children
        : children.filter((child) => platformMatches(platform, child.platform));
      if (chosen.length === 0) {
        const available = [...new Set(children.map((child) => formatPlatform(child.platform)))].join(', ');
        throw new Error(`no ${formatPlatform(platform)} image in ${formatImageRef(ref)} (it has: ${available || 'none'}); pick one of those with --platform, or leave --platform out for all`);
      }
      for (const child of chosen) await visit(child.digest.value, depth + 1, formatPlatform(child.platform));
      return;
    }
    if (childPlatform !== undefined && childPlatform !== 'unknown') platforms.push(childPlatform);
    for (const blob of manifest.blobs) {
      if (FOREIGN_LAYER.test(blob.mediaType) && blob.urls) continue;
      if (!blobs.has(blob.digest.value)) blobs.set(blob.digest.value, { digest: blob.digest.value, size: blob.size });
    }
  };
  await visit(ref.reference, 0, undefined);
  const own = [...blobs.values()];
  const fresh = own.filter((blob) => !already.has(blob.digest));
  return { ref, blobs: fresh, shared: own.length - fresh.length, platforms, manifests };
}

async function getManifest(ref: ImageRef, reference: string, baseUrl: string, dispatcher: Dispatcher, status: NodeStatus): Promise<ParsedManifest> {
  const url = `${baseUrl}/v2/${ref.name}/manifests/${reference}`;
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, { dispatcher, headers: { accept: MANIFEST_ACCEPT, ...daemonAuthHeaders() } });
  } catch (error) {
    throw new DaemonUnreachableError(baseUrl, error);
  }
  const text = await response.body.text();
  // The top-level reference is in the line's label already; a child is named by its digest.
  const shown = reference === ref.reference ? '' : `${ref.name}@${reference}: `;
  if (response.statusCode !== 200) {
    const { code, message } = errorBody(text);
    if (response.statusCode === 404 && (code === 'MANIFEST_UNKNOWN' || code === 'NAME_UNKNOWN' || code === undefined)) {
      const alternative = shown === '' ? await libraryAlternative(ref, baseUrl, dispatcher) : undefined;
      const hint = alternative !== undefined
        ? `; it does have ${alternative}: prefetch that name (and pull it as such)`
        : `; check the name and tag (${ref.host === undefined
          ? 'the seed is asked for the name as written; only Docker Hub puts one-word names under library/'
          : `${ref.host} is asked only if it is an upstream or in allowed-registries; otherwise the whole name is asked of the upstreams`})`;
      throw new Error(`${shown}not found: neither this shoal nor ${upstreamsFor(ref, status)} has ${formatImageRef(ref)}${hint}`);
    }
    throw new DaemonRequestError(`${shown}${message ?? `the daemon answered ${response.statusCode}`}`, response.statusCode, code);
  }
  // The same checks the registry applies to a pushed manifest (src/oci/manifest.ts).
  try {
    return parseManifest(Buffer.from(text), String(response.headers['content-type'] ?? ''));
  } catch (error) {
    throw new Error(`${shown}${(error as Error).message}`);
  }
}

/**
 * The other spelling of a name the seed does not know, when the seed has that one: `app` ↔
 * `library/app`. A registry:2 seed filled by `docker push host/library/x` keeps the prefix, one
 * filled by `docker push host/x` does not; only Docker Hub treats the two as one.
 */
async function libraryAlternative(ref: ImageRef, baseUrl: string, dispatcher: Dispatcher): Promise<string | undefined> {
  if (ref.host !== undefined) return undefined;
  const other = ref.name.startsWith('library/') && ref.name.split('/').length === 2 ? ref.name.slice('library/'.length) : ref.name.includes('/') ? undefined : `library/${ref.name}`;
  if (other === undefined) return undefined;
  try {
    const response = await request(`${baseUrl}/v2/${other}/manifests/${ref.reference}`, { dispatcher, method: 'HEAD', headers: { accept: MANIFEST_ACCEPT, ...daemonAuthHeaders() } });
    await response.body.dump();
    return response.statusCode === 200 ? formatImageRef({ ...ref, name: other }) : undefined;
  } catch {
    return undefined;
  }
}

/** Which registry a name is looked up in, for "not found" messages. */
function upstreamsFor(ref: ImageRef, status: NodeStatus): string {
  if (ref.host !== undefined) return `the registry ${ref.host}`;
  const configured = status.upstreams.filter((upstream) => upstream.configured).map((upstream) => upstream.url);
  if (configured.length === 0) return 'any upstream (none is configured: a standalone shoal knows only the images pushed to it)';
  return `the seed ${configured.length === 1 ? 'registry' : 'registries'} ${configured.join(', ')}`;
}

export function errorBody(text: string): { code?: string; message?: string } {
  try {
    const body = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    const first = body.errors?.[0];
    return { ...(first?.code ? { code: first.code } : {}), ...(first?.message ? { message: first.message } : {}) };
  } catch {
    return text.trim() === '' ? {} : { message: text.trim().slice(0, 200) };
  }
}
