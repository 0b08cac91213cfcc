// The in-memory twin of an upstream registry: what RegistryClient answers for a registry:2 seed,
// without a socket. Tests hand it to whatever takes an UpstreamRegistry; the conformance suite
// (test/integration/upstream-conformance.test.ts) holds both to the same answers.
import { Readable } from 'node:stream';
import { OciError, digestOf, type ByteRange, type Digest } from '../oci/index.ts';
import { UpstreamUnavailableError } from './errors.ts';
import { registryHostOf } from './registry-client.ts';
import type { RemoteBlob, RemoteManifest, RemoteManifestInfo, UpstreamRegistry } from './types.ts';

interface Repository {
  readonly tags: Map<string, string>;
  /** Digests linked into the repository, manifests and blobs alike, as registry:2 keeps them. */
  readonly links: Set<string>;
}

export class MemoryUpstream implements UpstreamRegistry {
  readonly url: string;
  readonly host: string;
  /** While true every call fails as an unreachable upstream does (UpstreamUnavailableError). */
  down = false;
  readonly #blobs = new Map<string, Buffer>();
  readonly #manifests = new Map<string, { readonly body: Buffer; readonly mediaType: string }>();
  readonly #repositories = new Map<string, Repository>();

  constructor(url = 'http://upstream.invalid') {
    this.url = url;
    this.host = registryHostOf(url);
  }

  /** Stores a blob in `repository` (as a push does) and returns its digest. */
  addBlob(repository: string, content: Buffer): Digest {
    const digest = digestOf(content);
    this.#blobs.set(digest.value, content);
    this.#repository(repository).links.add(digest.value);
    return digest;
  }

  /** Stores a manifest in `repository`, tagged when `tag` is given; its blobs are not checked. */
  addManifest(repository: string, body: Buffer, mediaType: string, tag?: string): Digest {
    const digest = digestOf(body);
    this.#manifests.set(digest.value, { body, mediaType });
    const repo = this.#repository(repository);
    repo.links.add(digest.value);
    if (tag !== undefined) repo.tags.set(tag, digest.value);
    return digest;
  }

  async headManifest(repository: string, reference: string): Promise<RemoteManifestInfo | undefined> {
    const found = await this.getManifest(repository, reference);
    return found && { digest: found.digest, mediaType: found.mediaType, size: found.size };
  }

  /** Accept is not consulted: the twin serves the manifest as pushed, as registry:2 does for OCI and schema2 types. */
  async getManifest(repository: string, reference: string, _accept?: readonly string[]): Promise<RemoteManifest | undefined> {
    this.#reachable();
    const repo = this.#repositories.get(repository);
    const digest = reference.includes(':') ? reference : repo?.tags.get(reference);
    if (repo === undefined || digest === undefined || !repo.links.has(digest)) return undefined;
    const manifest = this.#manifests.get(digest);
    if (manifest === undefined) return undefined;
    return { digest: digestOf(manifest.body), mediaType: manifest.mediaType, size: manifest.body.byteLength, body: manifest.body };
  }

  async headBlob(repository: string, digest: Digest): Promise<number | undefined> {
    return this.#blob(repository, digest)?.byteLength;
  }

  async getBlob(repository: string, digest: Digest, range?: ByteRange): Promise<RemoteBlob | undefined> {
    const content = this.#blob(repository, digest);
    if (content === undefined) return undefined;
    if (range === undefined) return { size: content.byteLength, stream: Readable.from([content]) };
    if (range.start >= content.byteLength) {
      throw new OciError('RANGE_INVALID', `blob ${digest.value} of ${repository} from upstream ${this.host}: range bytes=${range.start}-${range.end} not satisfiable`, undefined, { headers: { 'content-range': `bytes */${content.byteLength}` } });
    }
    const returned = { start: range.start, end: Math.min(range.end, content.byteLength - 1) };
    return { size: content.byteLength, range: returned, stream: Readable.from([content.subarray(returned.start, returned.end + 1)]) };
  }

  async listTags(repository: string): Promise<string[] | undefined> {
    this.#reachable();
    const repo = this.#repositories.get(repository);
    return repo && [...repo.tags.keys()].sort();
  }

  async catalog(): Promise<string[]> {
    this.#reachable();
    return [...this.#repositories.keys()].sort();
  }

  #blob(repository: string, digest: Digest): Buffer | undefined {
    this.#reachable();
    if (!this.#repositories.get(repository)?.links.has(digest.value)) return undefined;
    return this.#blobs.get(digest.value) ?? this.#manifests.get(digest.value)?.body;
  }

  #repository(name: string): Repository {
    let repo = this.#repositories.get(name);
    if (repo === undefined) this.#repositories.set(name, (repo = { tags: new Map(), links: new Set() }));
    return repo;
  }

  #reachable(): void {
    if (this.down) throw new UpstreamUnavailableError(this.host, `connect ECONNREFUSED ${this.url} (MemoryUpstream is down)`);
  }
}
