import { join } from 'node:path';
import type { Digest } from '../oci/index.ts';
import { readTextIfExists, writeFileAtomic } from './files.ts';
import type { Layout } from './layout.ts';

/** One manifest pushed to this node through the API: by tag, or by digest only. */
export interface PushedRecord {
  readonly repository: string;
  /** The tag it was pushed with; absent for a push by digest. */
  readonly tag?: string;
  readonly digest: string;
  /** ISO time of the push. */
  readonly pushedAt: string;
}

/**
 * Which manifests were pushed to this node (as opposed to pulled through it), in
 * `<data-dir>/shoal/pushed.json`, outside the registry:2 tree so registry:2 reads the layout as
 * before. Eviction keeps what these reach: a pushed image may exist nowhere else.
 *
 * Keyed by (repository, tag) for tag pushes, so a tag pushed again replaces its record, and by
 * (repository, digest) for pushes by digest. Records are checked against the layout when used:
 * a tag deleted or moved since (by a DELETE, or by the seed's newer tag) no longer protects the
 * old manifest; `prune` drops such records.
 */
export class PushedManifests {
  readonly #path: string;
  readonly #tmp: string;
  readonly #records = new Map<string, PushedRecord>();
  #writing: Promise<void> = Promise.resolve();

  private constructor(layout: Layout, file: string) {
    this.#path = join(layout.root, 'shoal', file);
    this.#tmp = layout.tmp;
  }

  /**
   * `file`: `pushed.json`, or another record of tags by where they came from, in the same form
   * (`seed-tags.json`: the tags this node took from its seed, which the seed's 404 withdraws).
   * `unreadable`: what to do with a file that cannot be read or is not this form: `refuse` (the
   * start fails: for pushed.json, better than evicting pushed images), or `forget` (start with no
   * record, told through `warn`: a lost seed-tags.json only keeps withdrawn tags served).
   */
  static async load(layout: Layout, file = 'pushed.json', unreadable: 'refuse' | { readonly forget: (message: string) => void } = 'refuse'): Promise<PushedManifests> {
    const pushed = new PushedManifests(layout, file);
    let parsed: { manifests?: unknown } | undefined;
    try {
      const text = await readTextIfExists(pushed.#path);
      parsed = text === undefined ? undefined : (JSON.parse(text) as { manifests?: unknown });
      if (parsed !== undefined && (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))) throw new Error('not an object');
    } catch (error) {
      const message = `${pushed.#path} cannot be read or is not valid (${(error as Error).message})`;
      if (unreadable === 'refuse') throw new Error(`${message}; repair or remove it`);
      unreadable.forget(`${message}; starting without it, and writing it anew`);
      parsed = undefined;
    }
    if (parsed !== undefined) {
      for (const entry of Array.isArray(parsed.manifests) ? parsed.manifests : []) {
        const record = entry as Partial<PushedRecord>;
        if (typeof record.repository !== 'string' || typeof record.digest !== 'string') continue;
        const clean: PushedRecord = {
          repository: record.repository,
          digest: record.digest,
          pushedAt: typeof record.pushedAt === 'string' ? record.pushedAt : new Date(0).toISOString(),
          ...(typeof record.tag === 'string' ? { tag: record.tag } : {}),
        };
        pushed.#records.set(keyOf(clean), clean);
      }
    }
    return pushed;
  }

  /** The digest `tag` of `repository` was last recorded with (pushed here, or taken from the seed), if it was. */
  pushedTag(repository: string, tag: string): string | undefined {
    return this.#records.get(keyOf({ repository, tag, digest: '', pushedAt: '' }))?.digest;
  }

  get path(): string {
    return this.#path;
  }

  records(): PushedRecord[] {
    return [...this.#records.values()];
  }

  /** Remembers a push; resolves once the record is on disk. */
  record(repository: string, digest: Digest, tag?: string): Promise<void> {
    const record: PushedRecord = { repository, digest: digest.value, pushedAt: new Date().toISOString(), ...(tag !== undefined ? { tag } : {}) };
    const key = keyOf(record);
    const existing = this.#records.get(key);
    if (existing?.digest === record.digest) return this.#writing;
    this.#records.set(key, record);
    return this.#save();
  }

  /** Drops the record of `tag` in `repository`, if there is one; resolves once the file says so. */
  forgetTag(repository: string, tag: string): Promise<void> {
    if (!this.#records.delete(keyOf({ repository, tag, digest: '', pushedAt: '' }))) return this.#writing;
    return this.#save();
  }

  /** Drops the records `keep` refuses; writes the file when any went. */
  async prune(keep: (record: PushedRecord) => boolean): Promise<number> {
    let dropped = 0;
    for (const [key, record] of this.#records) {
      if (!keep(record)) {
        this.#records.delete(key);
        dropped += 1;
      }
    }
    if (dropped > 0) await this.#save();
    return dropped;
  }

  #save(): Promise<void> {
    this.#writing = this.#writing.catch(() => undefined).then(() =>
      writeFileAtomic(this.#path, `${JSON.stringify({ version: 1, manifests: this.records() }, null, 1)}\n`, this.#tmp));
    return this.#writing;
  }
}

function keyOf(record: PushedRecord): string {
  return record.tag !== undefined ? `${record.repository}\u0000tag\u0000${record.tag}` : `${record.repository}\u0000digest\u0000${record.digest}`;
}
