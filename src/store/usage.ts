import { join } from 'node:path';
import type { Digest } from '../oci/index.ts';
import { readTextIfExists, writeFileAtomic } from './files.ts';
import type { Layout } from './layout.ts';

/** Blobs committed by a push are kept from eviction this long, so a push's layers survive until its manifest arrives. */
export const PUSH_GRACE_MS = 60 * 60 * 1000;

/** Bytes counted as used disk until released. */
export interface Reservation {
  /** Counts `bytes` from now on instead. */
  set(bytes: number): void;
  /** Stops counting; calling it more than once releases once. */
  release(): void;
}

/**
 * What the store knows about how blobs are used, for eviction:
 *
 * - **In use**: a blob being read (sent to a client or a peer, read by a PartialBlob reader after
 *   its commit) is counted here from before its file is opened until the response is over, and
 *   is never evicted meanwhile.
 * - **Last access**: kept in memory and persisted lazily to `<data-dir>/shoal/access-times.json`
 *   (every few minutes and at shutdown). Not file atimes: data directories are commonly mounted
 *   `noatime`/`relatime`, so atime says little; and touching mtimes on every read costs a metadata
 *   write per request and changes files registry:2 owns. A crash loses at most the last few
 *   minutes of recency; a blob without a record counts as accessed when its file was written.
 * - **Reservations**: what blobs being fetched take. A blob a local client pulls counts its
 *   declared size, so eviction makes room for a large layer while it arrives rather than after;
 *   a piece cache (pieces fetched only for peers) counts the bytes it holds, and one kept from
 *   before a restart the bytes its file takes (see BlobStore.createPartial).
 * - **Push grace**: blobs committed by a push, protected for PUSH_GRACE_MS.
 */
export class BlobUsage {
  readonly #path: string;
  readonly #tmp: string;
  readonly #inUse = new Map<string, number>();
  readonly #accessed = new Map<string, number>();
  readonly #pushedUntil = new Map<string, number>();
  readonly #reservedListeners = new Set<() => void>();
  readonly #now: () => number;
  #reserved = 0;
  #dirty = false;
  #persisting: Promise<void> = Promise.resolve();

  private constructor(layout: Layout, now: () => number) {
    this.#path = join(layout.root, 'shoal', 'access-times.json');
    this.#tmp = layout.tmp;
    this.#now = now;
  }

  /** Reads the persisted access times (a missing or unreadable file is an empty record). */
  static async load(layout: Layout, now: () => number = Date.now): Promise<BlobUsage> {
    const usage = new BlobUsage(layout, now);
    try {
      const text = await readTextIfExists(usage.#path);
      const parsed = text === undefined ? undefined : (JSON.parse(text) as { accessed?: Record<string, unknown> });
      for (const [digest, when] of Object.entries(parsed?.accessed ?? {})) {
        if (typeof when === 'number' && Number.isFinite(when)) usage.#accessed.set(digest, when);
      }
    } catch {
      // A damaged record only costs recency: blobs fall back to their file times.
    }
    return usage;
  }

  /**
   * Marks the blob in use (and accessed) until the returned function is called; calling it more
   * than once releases once.
   */
  acquire(digest: Digest): () => void {
    const key = digest.value;
    this.#inUse.set(key, (this.#inUse.get(key) ?? 0) + 1);
    this.touch(digest);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#inUse.get(key) ?? 1) - 1;
      if (left > 0) this.#inUse.set(key, left);
      else this.#inUse.delete(key);
      this.touch(digest);
    };
  }

  isInUse(digest: Digest | string): boolean {
    return this.#inUse.has(typeof digest === 'string' ? digest : digest.value);
  }

  /** Blobs in use right now (for the status and the tests). */
  inUse(): string[] {
    return [...this.#inUse.keys()];
  }

  touch(digest: Digest | string, at = this.#now()): void {
    const key = typeof digest === 'string' ? digest : digest.value;
    if ((this.#accessed.get(key) ?? -Infinity) >= at) return;
    this.#accessed.set(key, at);
    this.#dirty = true;
  }

  /** Epoch ms of the last recorded access, if any. */
  lastAccess(digest: Digest | string): number | undefined {
    return this.#accessed.get(typeof digest === 'string' ? digest : digest.value);
  }

  /** A blob committed by a push: kept from eviction for `ms`. */
  markPushed(digest: Digest, ms = PUSH_GRACE_MS): void {
    this.#pushedUntil.set(digest.value, this.#now() + ms);
  }

  isRecentlyPushed(digest: Digest | string): boolean {
    const key = typeof digest === 'string' ? digest : digest.value;
    const until = this.#pushedUntil.get(key);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    this.#pushedUntil.delete(key);
    return false;
  }

  /** Counts `bytes` as used until released (a blob being fetched); the count may change meanwhile. */
  reserve(bytes: number): Reservation {
    let held = 0;
    let released = false;
    const set = (next: number): void => {
      if (released || next === held) return;
      const grew = next > held;
      this.#reserved += next - held;
      held = next;
      if (grew) for (const listener of this.#reservedListeners) listener();
    };
    set(bytes);
    return {
      set,
      release: () => {
        set(0);
        released = true;
      },
    };
  }

  get reservedBytes(): number {
    return this.#reserved;
  }

  /** Called after every reservation that grew (eviction checks the watermark). */
  onReserved(listener: () => void): () => void {
    this.#reservedListeners.add(listener);
    return () => this.#reservedListeners.delete(listener);
  }

  /** The blob is gone: its records go too. */
  forget(digest: Digest | string): void {
    const key = typeof digest === 'string' ? digest : digest.value;
    if (this.#accessed.delete(key)) this.#dirty = true;
    this.#pushedUntil.delete(key);
  }

  /** Drops access records of blobs that are no longer stored. */
  retainOnly(present: ReadonlySet<string>): void {
    for (const key of this.#accessed.keys()) {
      if (!present.has(key)) {
        this.#accessed.delete(key);
        this.#dirty = true;
      }
    }
  }

  /** Writes the access times when they changed since the last write (atomically; serialised). */
  persist(): Promise<void> {
    this.#persisting = this.#persisting.catch(() => undefined).then(async () => {
      if (!this.#dirty) return;
      this.#dirty = false;
      try {
        await writeFileAtomic(this.#path, JSON.stringify({ version: 1, accessed: Object.fromEntries(this.#accessed) }), this.#tmp);
      } catch (error) {
        this.#dirty = true;
        throw error;
      }
    });
    return this.#persisting;
  }
}
