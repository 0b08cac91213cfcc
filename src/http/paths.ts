import { OciError, parseRepositoryName } from '../oci/index.ts';

export type Endpoint =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'referrers'; name: string; digest: string };

// Names contain slashes, so the endpoint is recognised by its suffix, as registry:2 does.
const PATTERNS: ReadonlyArray<[RegExp, (m: RegExpExecArray) => Endpoint]> = [
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/_catalog$/, () => ({ kind: 'catalog' })],
  [/^\/v2\/(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1]! })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1]!, id: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
];

/**
 * Maps a request path to an endpoint. Percent-escapes are decoded first so that `%2e%2e` and
 * friends meet the same name grammar as their plain forms; that grammar admits no `.`-only or
 * empty component, so nothing here can name a path outside the store. An escaped slash (`%2F`)
 * is kept escaped: it is part of one path segment, not a separator, so the grammar of whatever
 * it sits in (name, tag, digest) refuses it instead of it silently splitting a name.
 */
export function parseEndpoint(rawPath: string): Endpoint | undefined {
  let path: string;
  try {
    path = rawPath.split(/%2f/i).map(decodeURIComponent).join('%2F');
  } catch {
    throw new OciError('NAME_INVALID', 'request path has a malformed percent-escape');
  }
  for (const [pattern, build] of PATTERNS) {
    const match = pattern.exec(path);
    if (!match) continue;
    const endpoint = build(match);
    if ('name' in endpoint) parseRepositoryName(endpoint.name);
    return endpoint;
  }
  return undefined;
}

export function splitUrl(target: string): { path: string; query: URLSearchParams } {
  const url = originForm(target);
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: new URLSearchParams() } : { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

/**
 * The path and query of a request target in absolute form (`GET http://host/v2/ HTTP/1.1`, which
 * a server must accept: RFC 9112 §3.2.2); other targets unchanged.
 */
export function originForm(target: string): string {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  if (!match) return target;
  const rest = target.slice(match[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** The host a request target in absolute form names (it wins over the Host header: RFC 9112 §3.2.2). */
export function targetAuthority(target: string): string | undefined {
  return /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(target)?.[1];
}

export function encodeName(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}
