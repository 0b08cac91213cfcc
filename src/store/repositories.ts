import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidTag, tryParseDigest, type Digest } from '../oci/index.ts';
import { DeletionMarks } from './deletion-marks.ts';
import type { Layout } from './layout.ts';
import { isNotFound, readTextIfExists, writeFileAtomic } from './files.ts';

/**
 * Repository metadata as registry:2 keeps it: link files naming digests. A layer link puts a
 * blob in a repository, a revision link a manifest, a tag's current/link the manifest it names.
 */
export class RepositoryStore {
  readonly #layout: Layout;
  readonly #tagged = new Set<(name: string, tag: string, digest: Digest) => void>();
  readonly #untagged = new Set<(name: string, tag: string, digest: Digest) => void>();
  /** References clients deleted; a link or tag written again clears its mark. */
  readonly deleted: DeletionMarks;

  constructor(layout: Layout) {
    this.#layout = layout;
    this.deleted = new DeletionMarks(layout.deleted, layout.tmp);
  }

  async linkBlob(name: string, digest: Digest): Promise<void> {
    if (await this.#writeLink(this.#layout.layerLink(name, digest), digest)) await this.deleted.clear(name, 'blob', digest.value);
  }

  async hasBlobLink(name: string, digest: Digest): Promise<boolean> {
    return (await this.#readLink(this.#layout.layerLink(name, digest)))?.value === digest.value;
  }

  async unlinkBlob(name: string, digest: Digest): Promise<boolean> {
    const existed = await this.hasBlobLink(name, digest);
    await rm(join(this.#layout.layerLink(name, digest), '..'), { recursive: true, force: true });
    return existed;
  }

  async linkManifest(name: string, digest: Digest): Promise<void> {
    if (await this.#writeLink(this.#layout.revisionLink(name, digest), digest)) await this.deleted.clear(name, 'manifest', digest.value);
  }

  async hasManifest(name: string, digest: Digest): Promise<boolean> {
    return (await this.#readLink(this.#layout.revisionLink(name, digest)))?.value === digest.value;
  }

  /** Manifest digests of a repository (its revisions). */
  async manifests(name: string): Promise<Digest[]> {
    const result: Digest[] = [];
    for (const algorithm of await this.#list(this.#layout.revisionsDir(name))) {
      for (const hex of await this.#list(join(this.#layout.revisionsDir(name), algorithm))) {
        const digest = tryParseDigest(`${algorithm}:${hex}`);
        if (digest && (await this.hasManifest(name, digest))) result.push(digest);
      }
    }
    return result;
  }

  /** Removes a manifest revision and every tag pointing at it (as registry:2 does). Returns the tags removed. */
  async unlinkManifest(name: string, digest: Digest): Promise<string[]> {
    const removedTags: string[] = [];
    for (const tag of await this.tags(name)) {
      if ((await this.resolveTag(name, tag))?.value === digest.value) {
        await this.untag(name, tag);
        removedTags.push(tag);
      }
    }
    await rm(join(this.#layout.revisionLink(name, digest), '..'), { recursive: true, force: true });
    return removedTags;
  }

  /** Points `tag` at `digest`; listeners hear of it when the tag actually moved (or is new). */
  async tag(name: string, tag: string, digest: Digest): Promise<void> {
    await this.#writeLink(this.#layout.tagIndexLink(name, tag, digest), digest);
    if (await this.#writeLink(this.#layout.tagCurrentLink(name, tag), digest)) {
      await this.deleted.clear(name, 'tag', tag);
      for (const listener of this.#tagged) listener(name, tag, digest);
    }
  }

  onTagged(listener: (name: string, tag: string, digest: Digest) => void): () => void {
    this.#tagged.add(listener);
    return () => this.#tagged.delete(listener);
  }

  async resolveTag(name: string, tag: string): Promise<Digest | undefined> {
    return this.#readLink(this.#layout.tagCurrentLink(name, tag));
  }

  /** Removes a tag; listeners hear of it when there was one. */
  async untag(name: string, tag: string): Promise<boolean> {
    const named = await this.resolveTag(name, tag);
    await rm(this.#layout.tagDir(name, tag), { recursive: true, force: true });
    if (named) for (const listener of this.#untagged) listener(name, tag, named);
    return named !== undefined;
  }

  onUntagged(listener: (name: string, tag: string, digest: Digest) => void): () => void {
    this.#untagged.add(listener);
    return () => this.#untagged.delete(listener);
  }

  /** Tags with a current link, in lexical order (the spec's order for pagination). */
  async tags(name: string): Promise<string[]> {
    const tags: string[] = [];
    for (const tag of await this.#list(this.#layout.tagsDir(name))) {
      if (isValidTag(tag) && (await this.resolveTag(name, tag))) tags.push(tag);
    }
    return tags.sort(compareLexical);
  }

  async exists(name: string): Promise<boolean> {
    return (await this.#list(join(this.#layout.repository(name), '_manifests'))).length > 0 || (await this.#list(join(this.#layout.repository(name), '_layers'))).length > 0;
  }

  /**
   * Whether a manifest was ever pulled or pushed into the repository: what `_catalog` lists. Blob
   * links alone do not count (a blob fetched or mounted under a name makes them).
   */
  async holdsManifests(name: string): Promise<boolean> {
    return (await this.#list(join(this.#layout.repository(name), '_manifests'))).length > 0;
  }

  /** Every repository: a directory holding `_manifests`, found by walking as registry:2 does. */
  async repositories(): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
        if (isNotFound(error)) return [];
        throw error;
      });
      if (entries.some((e) => e.isDirectory() && e.name === '_manifests')) found.push(prefix);
      for (const entry of entries) {
        if (entry.isDirectory() && !entry.name.startsWith('_')) {
          await walk(join(dir, entry.name), prefix ? `${prefix}/${entry.name}` : entry.name);
        }
      }
    };
    await walk(this.#layout.repositoriesRoot(), '');
    return found.filter((n) => n !== '').sort(compareLexical);
  }

  /** Returns whether the link changed. */
  async #writeLink(path: string, digest: Digest): Promise<boolean> {
    if ((await this.#readLink(path))?.value === digest.value) return false;
    await writeFileAtomic(path, digest.value, this.#layout.tmp);
    return true;
  }

  async #readLink(path: string): Promise<Digest | undefined> {
    const text = await readTextIfExists(path);
    return text === undefined ? undefined : tryParseDigest(text.trim());
  }

  async #list(dir: string): Promise<string[]> {
    try {
      return await readdir(dir);
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  }
}

/** Byte-wise order, which is what the spec's `last` pagination compares with. */
export function compareLexical(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
