// UpstreamRegistry over the Docker Registry HTTP API v2 / OCI distribution spec, for one upstream.
import {
  MANIFEST_MEDIA_TYPES,
  MAX_MANIFEST_BYTES,
  OciError,
  bareMediaType,
  digestOf,
  tryParseDigest,
  type ByteRange,
  type Digest,
} from '../oci/index.ts';
import type { UpstreamCredentials, UpstreamTlsConfig, RemoteBlob, RemoteManifest, RemoteManifestInfo, RequestOptions, UpstreamRegistry } from './types.ts';
import { Authenticator, CATALOG_SCOPE, pullScope } from './auth.ts';
import { isDockerHubHost } from './docker-credentials.ts';
import { UpstreamError } from './errors.ts';
import { Transport, discard, readBody, type UpstreamResponse } from './transport.ts';
import type { Dispatcher } from 'undici';

/** Tags list and catalog pages are JSON; none should come near this. */
const MAX_LIST_BYTES = 16 * 1024 * 1024;
/** Pagination stops after this many pages (a registry whose Link never ends). */
const MAX_PAGES = 10_000;

export interface RegistryClientInit {
  /** Base URL, e.g. `http://127.0.0.1:5001` or `https://registry-1.docker.io`. */
  readonly url: string;
  readonly credentials?: UpstreamCredentials;
  /** Where credentials come from or would be configured (a config.json path), for error messages. */
  readonly credentialsSource?: string;
  /** Connect + response-headers timeout, ms. */
  readonly timeoutMs?: number;
  /** Longest pause inside a response body, ms. */
  readonly bodyIdleTimeoutMs?: number;
  readonly userAgent?: string;
  readonly dispatcher?: Dispatcher;
  /** TLS settings of this upstream and docker's certs.d root; see tls.ts. */
  readonly tls?: UpstreamTlsConfig;
  readonly certsDir?: string;
}

/** host[:port] as docker names a registry: `https://registry-1.docker.io` → `docker.io`. */
export function registryHostOf(url: string): string {
  const host = new URL(url).host.toLowerCase();
  return isDockerHubHost(host) ? 'docker.io' : host;
}

export class RegistryClient implements UpstreamRegistry {
  readonly url: string;
  readonly host: string;
  readonly #transport: Transport;
  readonly #auth: Authenticator;

  constructor(init: RegistryClientInit) {
    this.url = init.url.replace(/\/+$/, '');
    this.host = registryHostOf(this.url);
    this.#transport = new Transport({
      baseUrl: this.url,
      host: this.host,
      ...(init.timeoutMs !== undefined ? { timeoutMs: init.timeoutMs } : {}),
      ...(init.bodyIdleTimeoutMs !== undefined ? { bodyIdleTimeoutMs: init.bodyIdleTimeoutMs } : {}),
      ...(init.userAgent !== undefined ? { userAgent: init.userAgent } : {}),
      ...(init.dispatcher !== undefined ? { dispatcher: init.dispatcher } : {}),
      ...(init.tls !== undefined ? { tls: init.tls } : {}),
      ...(init.certsDir !== undefined ? { certsDir: init.certsDir } : {}),
    });
    this.#auth = new Authenticator({
      upstream: this.host,
      fetchToken: this.#transport.fetchToken,
      ...(init.credentials ? { credentials: init.credentials } : {}),
      ...(init.credentialsSource ? { credentialsSource: init.credentialsSource } : {}),
    });
    this.#transport.authenticator = this.#auth;
  }

  /** Tokens fetched from this upstream's token server so far. */
  get tokensFetched(): number {
    return this.#auth.tokensFetched;
  }

  async headManifest(repository: string, reference: string, accept: readonly string[], options?: RequestOptions): Promise<RemoteManifestInfo | undefined> {
    const response = await this.#manifestRequest('HEAD', repository, reference, accept, options);
    if (response === undefined) return undefined;
    await discard(response);
    const mediaType = bareMediaType(header(response, 'content-type'));
    const size = Number(header(response, 'content-length'));
    const digestHeader = header(response, 'docker-content-digest');
    const referenceDigest = reference.includes(':') ? tryParseDigest(reference) : undefined;
    // Without a digest, a manifest media type or a length, only the body can tell: ask for it.
    if ((!digestHeader && !referenceDigest) || !mediaType || !MANIFEST_MEDIA_TYPES.includes(mediaType) || !Number.isSafeInteger(size)) {
      const manifest = await this.getManifest(repository, reference, accept, options);
      return manifest && { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.size };
    }
    const digest = digestHeader ? this.#parseDigestHeader(digestHeader) : referenceDigest!;
    if (referenceDigest && digest.value !== referenceDigest.value) {
      throw new UpstreamError(this.host, 200, `upstream ${this.host} answered HEAD ${repository}@${reference} with Docker-Content-Digest ${digest.value}`);
    }
    return { digest, mediaType, size };
  }

  async getManifest(repository: string, reference: string, accept: readonly string[], options?: RequestOptions): Promise<RemoteManifest | undefined> {
    const response = await this.#manifestRequest('GET', repository, reference, accept, options);
    if (response === undefined) return undefined;
    const declared = Number(header(response, 'content-length'));
    if (declared > MAX_MANIFEST_BYTES) {
      await discard(response);
      throw new UpstreamError(this.host, 200, `upstream ${this.host} sent a ${declared}-byte manifest for ${repository}:${reference}; the limit is ${MAX_MANIFEST_BYTES}`);
    }
    const body = await readBody(response, MAX_MANIFEST_BYTES, this.host);
    const digestHeader = header(response, 'docker-content-digest');
    const claimed = digestHeader ? this.#parseDigestHeader(digestHeader) : undefined;
    const referenceDigest = reference.includes(':') ? tryParseDigest(reference) : undefined;
    const digest = digestOf(body, referenceDigest?.algorithm ?? claimed?.algorithm ?? 'sha256');
    for (const [what, expected] of [['Docker-Content-Digest', claimed], ['the requested digest', referenceDigest]] as const) {
      if (expected && expected.algorithm === digest.algorithm && expected.value !== digest.value) {
        throw new UpstreamError(this.host, 200, `manifest ${repository}:${reference} from upstream ${this.host} hashes to ${digest.value}, not ${expected.value} (${what})`);
      }
    }
    return { digest, mediaType: manifestMediaType(header(response, 'content-type'), body), size: body.byteLength, body };
  }

  async headBlob(repository: string, digest: Digest, options?: RequestOptions): Promise<number | undefined> {
    const url = this.#transport.url(`/v2/${repository}/blobs/${digest.value}`);
    const response = await this.#transport.send('HEAD', url, { ...options, scope: pullScope(repository) });
    if (response.status === 404) return notFound(response);
    if (response.status !== 200) throw await unexpected(response, this.host, `HEAD blob ${digest.value} of ${repository}`);
    await discard(response);
    const size = Number(header(response, 'content-length'));
    if (!Number.isSafeInteger(size) || size < 0) throw new UpstreamError(this.host, 200, `HEAD blob ${digest.value} of ${repository} from upstream ${this.host}: the answer has no Content-Length`);
    return size;
  }

  async getBlob(repository: string, digest: Digest, range?: ByteRange, options?: RequestOptions): Promise<RemoteBlob | undefined> {
    const headers: Record<string, string> = range ? { range: `bytes=${range.start}-${range.end}` } : {};
    const url = this.#transport.url(`/v2/${repository}/blobs/${digest.value}`);
    const response = await this.#transport.send('GET', url, { ...options, scope: pullScope(repository), headers, bulk: true });
    const where = `blob ${digest.value} of ${repository} from upstream ${this.host}`;
    if (response.status === 404) return notFound(response);
    if (response.status === 416) {
      await discard(response);
      const contentRange = header(response, 'content-range');
      throw new OciError('RANGE_INVALID', `${where}: range ${headers.range} not satisfiable`, undefined, contentRange ? { headers: { 'content-range': contentRange } } : undefined);
    }
    if (response.status === 200) {
      const size = Number(header(response, 'content-length'));
      if (!Number.isSafeInteger(size) || size < 0) {
        response.body.destroy();
        throw new UpstreamError(this.host, 200, `${where}: the answer has no Content-Length`);
      }
      return { size, stream: response.body };
    }
    if (response.status === 206) {
      const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header(response, 'content-range') ?? '');
      const returned = match ? { start: Number(match[1]), end: Number(match[2]) } : undefined;
      if (!match || !returned || (range && (returned.start !== range.start || returned.end > range.end))) {
        response.body.destroy();
        throw new UpstreamError(this.host, 206, `${where}: asked for ${headers.range ?? 'the whole blob'}, got Content-Range ${JSON.stringify(header(response, 'content-range') ?? '')}`);
      }
      return { size: Number(match[3]), range: returned, stream: response.body };
    }
    throw await unexpected(response, this.host, `GET ${where}`);
  }

  async listTags(repository: string, options?: RequestOptions): Promise<string[] | undefined> {
    return this.#paginate(`/v2/${repository}/tags/list`, pullScope(repository), 'tags', false, options);
  }

  async catalog(options?: RequestOptions): Promise<string[]> {
    return (await this.#paginate('/v2/_catalog', CATALOG_SCOPE, 'repositories', true, options)) ?? [];
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }

  async #manifestRequest(method: 'GET' | 'HEAD', repository: string, reference: string, accept: readonly string[], options?: RequestOptions): Promise<UpstreamResponse | undefined> {
    const url = this.#transport.url(`/v2/${repository}/manifests/${reference}`);
    const headers = { accept: (accept.length > 0 ? accept : MANIFEST_MEDIA_TYPES).join(', ') };
    const response = await this.#transport.send(method, url, { ...options, scope: pullScope(repository), headers });
    if (response.status === 404) return notFound(response);
    if (response.status !== 200) throw await unexpected(response, this.host, `${method} manifest ${repository}:${reference}`);
    return response;
  }

  async #paginate(path: string, scope: string, field: 'tags' | 'repositories', absentIsEmpty: boolean, options?: RequestOptions): Promise<string[] | undefined> {
    const names: string[] = [];
    const seen = new Set<string>();
    let url = this.#transport.url(path);
    for (let page = 0; page < MAX_PAGES && !seen.has(url); page++) {
      seen.add(url);
      const response = await this.#transport.send('GET', url, { ...options, scope, headers: { accept: 'application/json' } });
      const absent = response.status === 404 || (absentIsEmpty && (response.status === 405 || response.status === 501));
      if (absent && page === 0) return notFound(response);
      if (response.status !== 200) throw await unexpected(response, this.host, `GET ${path}`);
      const body = await readBody(response, MAX_LIST_BYTES, this.host);
      let list: unknown;
      try {
        list = (JSON.parse(body.toString('utf8')) as Record<string, unknown>)[field];
      } catch {
        throw new UpstreamError(this.host, 200, `upstream ${this.host} answered GET ${path} with a body that is not JSON`);
      }
      if (list !== null && list !== undefined && !(Array.isArray(list) && list.every((v) => typeof v === 'string'))) {
        throw new UpstreamError(this.host, 200, `upstream ${this.host} answered GET ${path} without a ${field} array of strings`);
      }
      names.push(...((list as string[] | null | undefined) ?? []));
      const next = nextLink(header(response, 'link'), url);
      if (!next) break;
      url = next;
    }
    return names;
  }

  #parseDigestHeader(value: string): Digest {
    const digest = tryParseDigest(value.trim());
    if (!digest) throw new UpstreamError(this.host, 200, `upstream ${this.host} sent an invalid Docker-Content-Digest ${JSON.stringify(value.slice(0, 100))}`);
    return digest;
  }
}

/** The `rel="next"` target of a Link header, resolved against the URL that sent it. */
export function nextLink(link: string | undefined, base: string): string | undefined {
  if (!link) return undefined;
  for (const match of link.matchAll(/<([^>]*)>([^,]*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(match[2] ?? '');
    const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (relations.includes('next')) return new URL(match[1]!, base).toString();
  }
  return undefined;
}

function header(response: UpstreamResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The media type of a manifest: Content-Type when it names a manifest type, else the body's mediaType. */
function manifestMediaType(contentType: string | undefined, body: Buffer): string {
  const declared = bareMediaType(contentType);
  if (declared && MANIFEST_MEDIA_TYPES.includes(declared)) return declared;
  try {
    const json = JSON.parse(body.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof json.mediaType === 'string') return json.mediaType;
    if (Array.isArray(json.manifests)) return 'application/vnd.oci.image.index.v1+json';
  } catch {
    // not JSON: fall through to what the header said
  }
  return declared ?? 'application/vnd.oci.image.manifest.v1+json';
}

async function notFound(response: UpstreamResponse): Promise<undefined> {
  await discard(response);
  return undefined;
}

/** An UpstreamError for an answer nobody expected, quoting the registry's error code when it sent one. */
async function unexpected(response: UpstreamResponse, host: string, what: string): Promise<UpstreamError> {
  let detail = '';
  try {
    const body = await readBody(response, 64 * 1024, host);
    const first = (JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> }).errors?.[0];
    if (first?.code) detail = `: ${first.code}${first.message ? ` (${first.message})` : ''}`;
  } catch {
    // no readable error body
  }
  return new UpstreamError(host, response.status, `upstream ${host} answered ${response.status} to ${what}${detail}`);
}
