import { LRUCache } from 'lru-cache';
import { digestOf, parseManifest, MAX_MANIFEST_BYTES, OciError, type Descriptor, type Digest, type ParsedManifest } from '../oci/index.ts';
import type { BlobStore } from './blobs.ts';
import type { PushedManifests } from './pushed.ts';
import type { RepositoryStore } from './repositories.ts';

export interface StoredManifest {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly body: Buffer;
  readonly parsed: ParsedManifest;
}

/** Bytes of manifest bodies kept in memory: tag pulls then cost one small link read, not a blob read and a hash. */
export const MANIFEST_CACHE_BYTES = 64 * 1024 * 1024;

interface CachedManifest {
  readonly body: Buffer;
  readonly parsed: ParsedManifest;
}

/**
 * Manifests are blobs plus a revision link per repository (registry:2's layout). Parsed
 * manifests are cached by digest: content-addressed, so a cached entry is never stale.
 */
export class ManifestStore {
  readonly #blobs: BlobStore;
  readonly #repos: RepositoryStore;
  readonly #pushed: PushedManifests | undefined;
  // Content-addressed, so an entry is never stale; a manifest over 1/16 of the budget is not kept.
  readonly #cache = new LRUCache<string, CachedManifest>({
    maxSize: MANIFEST_CACHE_BYTES,
    maxEntrySize: MANIFEST_CACHE_BYTES / 16,
    sizeCalculation: (entry) => Math.max(1, entry.body.byteLength),
  });

  constructor(blobs: BlobStore, repos: RepositoryStore, pushed?: PushedManifests) {
    this.#blobs = blobs;
    this.#repos = repos;
    this.#pushed = pushed;
  }

  /**
   * Stores a manifest whose references were already checked; tags it when `tag` is given.
   * `expected` (a PUT by digest) keeps the manifest under that digest's algorithm, sha256 otherwise.
   * `pushed`: it came from a client's PUT, not from the seed or a peer; recorded so that eviction
   * keeps the image (see PushedManifests).
   */
  async put(name: string, body: Buffer, parsed: ParsedManifest, tag?: string, expected?: Digest, options: { pushed?: boolean } = {}): Promise<Digest> {
    const digest = await this.#blobs.put(body, expected);
    this.#remember(digest, body, parsed);
    await this.#repos.linkManifest(name, digest);
    // Recorded before the tag appears: an eviction run in between never sees it unprotected.
    if (options.pushed) await this.#pushed?.record(name, digest, tag);
    if (tag !== undefined) await this.#repos.tag(name, tag, digest);
    return digest;
  }

  /** Stores a manifest in no repository: one served by digest under a name that is no repository here. */
  async putUnlinked(body: Buffer, parsed: ParsedManifest, expected: Digest): Promise<void> {
    const digest = await this.#blobs.put(body, expected);
    this.#remember(digest, body, parsed);
  }

  /** The manifest when `name` has that revision, else undefined. */
  async get(name: string, digest: Digest): Promise<StoredManifest | undefined> {
    if (!(await this.#repos.hasManifest(name, digest))) return undefined;
    return this.read(digest);
  }

  /**
   * A stored blob by digest, regardless of repository, when it is a manifest: undefined for a layer
   * or config (too large to be one, or not one when parsed), which no manifest URL names.
   */
  async readIfManifest(digest: Digest): Promise<StoredManifest | undefined> {
    if (!this.#cache.has(digest.value) && ((await this.#blobs.stat(digest)) ?? 0) > MAX_MANIFEST_BYTES) return undefined;
    try {
      return await this.read(digest);
    } catch (error) {
      if (error instanceof OciError && error.code === 'MANIFEST_INVALID') return undefined;
      throw error;
    }
  }

  /** A manifest by digest regardless of repository (the store is content-addressed). */
  async read(digest: Digest): Promise<StoredManifest | undefined> {
    const cached = this.#cache.get(digest.value);
    if (cached) {
      return { digest, mediaType: cached.parsed.mediaType, body: cached.body, parsed: cached.parsed };
    }
    const body = await this.#blobs.read(digest);
    if (!body) return undefined;
    if (digestOf(body, digest.algorithm).value !== digest.value) {
      throw new OciError('UNKNOWN', `stored manifest ${digest.value} does not match its digest: the data directory is damaged`);
    }
    const parsed = parseManifest(body, undefined);
    this.#remember(digest, body, parsed);
    return { digest, mediaType: parsed.mediaType, body, parsed };
  }

  /** Manifests in `name` whose subject is `subject`, as descriptors for the referrers API. */
  async referrers(name: string, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    const result: Descriptor[] = [];
    for (const digest of await this.#repos.manifests(name)) {
      let stored: StoredManifest | undefined;
      try {
        stored = await this.read(digest);
      } catch {
        continue; // a manifest that does not parse (schema1 written by an old registry) refers to nothing
      }
      if (!stored || stored.parsed.subject?.digest.value !== subject.value) continue;
      if (artifactType !== undefined && stored.parsed.artifactType !== artifactType) continue;
      result.push({
        mediaType: stored.mediaType,
        digest,
        size: stored.body.byteLength,
        ...(stored.parsed.artifactType !== undefined ? { artifactType: stored.parsed.artifactType } : {}),
        ...(stored.parsed.annotations !== undefined ? { annotations: stored.parsed.annotations } : {}),
      });
    }
    return result;
  }

  #remember(digest: Digest, body: Buffer, parsed: ParsedManifest): void {
    if (this.#cache.has(digest.value) || body.byteLength > MANIFEST_CACHE_BYTES / 16) return;
    this.#cache.set(digest.value, { body, parsed });
  }
}
