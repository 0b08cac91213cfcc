// The newest record of each repository:tag this host knows (its own and those announced), last
// writer wins; bounded, the pair updated longest ago forgotten first.
import type { TagRecord } from './types.ts';

/** Newest records kept for distinct repository:tag pairs (own and learned). */
export const DEFAULT_MAX_TAGS = 100_000;

export class TagRecords {
  readonly #max: number;
  readonly #records = new Map<string, TagRecord>();

  constructor(max = DEFAULT_MAX_TAGS) {
    this.#max = max;
  }

  /** Keeps the record if it is newer than the one known; true when it was. */
  offer(record: TagRecord): boolean {
    const key = `${record.repository}:${record.tag}`;
    const known = this.#records.get(key);
    if (known !== undefined && !isNewer(record, known)) return false;
    this.#records.delete(key);
    this.#records.set(key, record);
    // Map order is insertion order: the first key is the one updated longest ago.
    if (this.#records.size > this.#max) this.#records.delete(this.#records.keys().next().value!);
    return true;
  }

  newest(repository: string, tag: string): TagRecord | undefined {
    return this.#records.get(`${repository}:${tag}`);
  }

  all(): IterableIterator<TagRecord> {
    return this.#records.values();
  }
}

/** Last writer wins; equal timestamps are broken by origin so every host picks the same record. */
export function isNewer(a: TagRecord, b: TagRecord): boolean {
  return a.timestamp > b.timestamp || (a.timestamp === b.timestamp && a.origin > b.origin);
}
