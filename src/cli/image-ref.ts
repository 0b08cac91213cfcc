// Image names as users write them (`nginx:1.14`, `library/nginx`, `registry.example.com/org/app:tag`,
// `name@sha256:...`, even `localhost:5000/nginx`) turned into what to ask the local daemon for:
// the name as docker pulls it from shoal (`localhost:5000/<name>`). The daemon asks its upstreams
// for it as written, except that Docker Hub keeps one-word names under `library/`: `nginx` is
// `library/nginx` there; on a registry:2 seed `library/nginx` is asked as written, then as `nginx`.
import { isValidRepositoryName, isValidTag, parseDigest, splitRegistryHost } from '../oci/index.ts';
import { registryHostOf } from '../upstream/registry-client.ts';
import { remoteName } from '../upstream/upstreams.ts';

export interface ImageRef {
  /** As the user wrote it, for messages. */
  readonly input: string;
  /** The repository name to use under the daemon's /v2/: `nginx`, `registry.example.com/org/app`. */
  readonly name: string;
  /** The registry host named in the image, if any (`registry.example.com`); absent: the configured upstreams. */
  readonly host: string | undefined;
  /** A tag (`latest` when none was given) or a digest (`sha256:...`); a digest wins over a tag. */
  readonly reference: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

export class ImageRefError extends Error {
  override name = 'ImageRefError';
}

export const DEFAULT_TAG = 'latest';

/**
 * Parses an image reference. `daemonHosts` are host:port spellings of the daemon itself
 * (`localhost:5000`, `127.0.0.1:5000`): a name that starts with one is the image as docker pulls
 * it from shoal, so that prefix is dropped.
 */
export function parseImageRef(input: string, daemonHosts: readonly string[] = []): ImageRef {
  const text = input.trim();
  if (text === '') throw new ImageRefError('an empty image name; write it as docker does, e.g. nginx:1.14 or registry.example.com/org/app:tag');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const digestText = rest.slice(at + 1);
    try {
      digest = parseDigest(digestText).value;
    } catch (error) {
      throw new ImageRefError(`${input}: "${digestText}" is not a digest (${(error as Error).message}); write name@sha256:<64 hex digits>`);
    }
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) {
      throw new ImageRefError(`${input}: "${tag}" is not a valid tag (up to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)`);
    }
  }
  let { host, path } = splitRegistryHost(rest);
  if (host !== undefined && daemonHosts.some((daemonHost) => daemonHost.toLowerCase() === host!.toLowerCase())) {
    ({ host, path } = splitRegistryHost(path));
  }
  if (host !== undefined && !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) {
    throw new ImageRefError(`${input}: "${host}" is not a registry host`);
  }
  if (path === '' || !isValidRepositoryName(path)) {
    const lower = path.toLowerCase();
    const hint = lower !== path && isValidRepositoryName(lower) ? `; repository names are lowercase: ${lower}` : '; names are lowercase letters and digits separated by / . _ -';
    throw new ImageRefError(`${input}: "${path}" is not a valid repository name${hint}`);
  }
  const name = host === undefined ? path : `${host.toLowerCase()}/${path}`;
  if (digest === undefined && tag === undefined) tag = DEFAULT_TAG;
  return { input: text, name, host: host?.toLowerCase(), reference: digest ?? tag!, tag, digest };
}

/** `nginx:1.14`, `registry.example.com/org/app@sha256:…`: the reference as shoal will pull it. */
export function formatImageRef(ref: ImageRef): string {
  return ref.digest !== undefined ? `${ref.name}@${ref.digest}` : `${ref.name}:${ref.tag ?? DEFAULT_TAG}`;
}

/**
 * What the daemon asks each registry for (the upstreams in order; a named registry alone):
 * `nginx:1.14` is `library/nginx:1.14` on Docker Hub and `nginx:1.14` on a registry:2 seed.
 */
export function upstreamNames(ref: ImageRef, upstreamUrls: readonly string[]): Array<{ registry: string; name: string }> {
  const suffix = ref.digest !== undefined ? `@${ref.digest}` : `:${ref.tag ?? DEFAULT_TAG}`;
  if (ref.host !== undefined) {
    const host = registryHostOf(`https://${ref.host}`);
    return [{ registry: host, name: `${remoteName(host, ref.name.slice(ref.host.length + 1))}${suffix}` }];
  }
  return upstreamUrls.map((url) => {
    const host = registryHostOf(url);
    return { registry: host, name: `${remoteName(host, ref.name)}${suffix}` };
  });
}

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** `linux/amd64`, `linux/arm64/v8`. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^[a-z0-9_.-]+$/i.test(part))) {
    throw new ImageRefError(`invalid --platform "${text}": expected os/arch or os/arch/variant, such as linux/amd64 or linux/arm64/v8`);
  }
  const [os = '', architecture = '', variant] = parts;
  return { os: os.toLowerCase(), architecture: architecture.toLowerCase(), ...(variant !== undefined ? { variant: variant.toLowerCase() } : {}) };
}

export function formatPlatform(platform: Partial<Platform> | undefined): string {
  if (platform?.os === undefined || platform.architecture === undefined) return 'unknown';
  return [platform.os, platform.architecture, platform.variant].filter((v) => v !== undefined && v !== '').join('/');
}

/** Whether an index entry's platform is the one asked for; a missing variant in the request matches any. */
export function platformMatches(wanted: Platform, actual: Partial<Platform> | undefined): boolean {
  if (actual === undefined) return false;
  if (actual.os?.toLowerCase() !== wanted.os || actual.architecture?.toLowerCase() !== wanted.architecture) return false;
  return wanted.variant === undefined || actual.variant?.toLowerCase() === wanted.variant;
}
