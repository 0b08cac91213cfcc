import type { Logger } from 'pino';
import { tryParseDigest, type Digest } from '../oci/index.ts';
import { markReferenced } from './gc.ts';
import { PUSH_GRACE_MS } from './usage.ts';
import type { PushedRecord } from './pushed.ts';
import type { Store } from './store.ts';

/** How often usage is checked without any event (a reservation that grew, a missed event). */
export const EVICTION_CHECK_INTERVAL_MS = 60_000;
/** After a run that could not get below the high watermark, wait this long before the next one. */
export const EVICTION_BACKOFF_MS = 10_000;

export interface EvictionOptions {
  /** Limit for the blobs of the data directory, in bytes (> 0). */
  readonly maxBytes: number;
  readonly highWatermarkPercent: number;
  readonly lowWatermarkPercent: number;
  /**
   * Whether an upstream can give this repository's blobs back. The tagged images of repositories
   * it cannot are kept like pushed ones: nothing would bring them back (a standalone registry, a
   * registry:2 directory served in place on the seed host). Default: every repository can.
   */
  readonly canRefetch?: (repository: string) => boolean;
  readonly logger?: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
  readonly checkIntervalMs?: number;
  readonly now?: () => number;
}

export interface EvictionResult {
  readonly evicted: ReadonlyArray<{ readonly digest: string; readonly size: number }>;
  readonly freedBytes: number;
  /** Blob bytes (plus reservations) before and after. */
  readonly usedBefore: number;
  readonly usedAfter: number;
  /** Bytes that could not be evicted: pushed or kept images, manifests, in use, just pushed. */
  readonly protectedBytes: number;
}

const NOTHING: Omit<EvictionResult, 'usedBefore' | 'usedAfter'> = { evicted: [], freedBytes: 0, protectedBytes: 0 };

/**
 * Keeps the blobs of the data directory under a size limit. When their size (plus the reservations
 * of blobs being fetched, see BlobUsage) crosses the high watermark, the least-recently-used blobs are
 * deleted until it is down to the low watermark, except:
 *
 * - blobs reachable from a manifest pushed to this node (a tag as it was pushed, or a push by
 *   digest; see PushedManifests), and from every tag of a repository no upstream serves;
 * - manifests (small; keeping them keeps tags resolvable while the seed is down);
 * - blobs in use (being sent to a client or a peer, read while fetched) and blobs a push
 *   committed within PUSH_GRACE_MS (its manifest may not be there yet).
 *
 * Evicted blobs are withdrawn from the swarm (the store's onDeleted). Their `_layers` links are
 * left in place: rewriting repositories under live traffic would race pushes and fetches that
 * link the same digest, and a dangling link is harmless (a GET in a mirrored repository fetches
 * the blob again; a HEAD answers 404, so a pusher uploads it again; registry:2 answers 404).
 */
export class Evictor {
  readonly #store: Store;
  readonly #options: EvictionOptions;
  readonly #now: () => number;
  #sizes = new Map<string, number>();
  #total = 0;
  /** Digests committed or deleted while a rescan walks the disk. */
  #changedDuringScan: Set<string> | undefined;
  #running: Promise<EvictionResult> | undefined;
  #again = false;
  #blockedUntil = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #unsubscribe: Array<() => void> = [];
  #closed = false;

  constructor(store: Store, options: EvictionOptions) {
    if (!(options.maxBytes > 0)) throw new RangeError('maxBytes must be above 0');
    if (!(options.lowWatermarkPercent < options.highWatermarkPercent)) throw new RangeError('the low watermark must be below the high one');
    this.#store = store;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get highBytes(): number {
    return Math.floor((this.#options.maxBytes * this.#options.highWatermarkPercent) / 100);
  }

  get lowBytes(): number {
    return Math.floor((this.#options.maxBytes * this.#options.lowWatermarkPercent) / 100);
  }

  /** Bytes of stored blobs. */
  get blobBytes(): number {
    return this.#total;
  }

  /** Stored blobs plus what blobs being fetched count for (BlobUsage reservations). */
  get usedBytes(): number {
    return this.#total + this.#store.blobs.usage.reservedBytes;
  }

  /** Counts what is on disk, follows the store's events, and evicts when needed. */
  async start(): Promise<void> {
    const { blobs } = this.#store;
    this.#unsubscribe.push(blobs.onCommitted((digest, size) => {
      this.#changedDuringScan?.add(digest.value);
      this.#setSize(digest.value, size);
      this.check();
    }));
    this.#unsubscribe.push(blobs.onDeleted((digest) => {
      this.#changedDuringScan?.add(digest.value);
      this.#setSize(digest.value, undefined);
    }));
    this.#unsubscribe.push(blobs.usage.onReserved(() => this.check()));
    await this.#rescan();
    if (this.#closed) return;
    this.#timer = setInterval(() => this.check(), this.#options.checkIntervalMs ?? EVICTION_CHECK_INTERVAL_MS);
    this.#timer.unref();
    this.check();
  }

  /** Starts a run when usage is above the high watermark (and none is running or backing off). */
  check(): void {
    if (this.#closed || this.usedBytes <= this.highBytes) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#now() < this.#blockedUntil) return;
    void this.run().catch((error: unknown) => this.#options.logger?.error({ err: error }, 'eviction failed'));
  }

  /** One eviction run (single-flight): from above the high watermark down to the low one. */
  run(): Promise<EvictionResult> {
    if (this.#running) return this.#running;
    const running = this.#run().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.check();
      }
    });
    this.#running = running;
    return running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const off of this.#unsubscribe.splice(0)) off();
    await this.#running?.catch(() => undefined);
  }

  async #run(): Promise<EvictionResult> {
    const modified = await this.#rescan();
    const usedBefore = this.usedBytes;
    if (usedBefore <= this.highBytes) return { ...NOTHING, usedBefore, usedAfter: usedBefore };
    const usage = this.#store.blobs.usage;
    const { keep } = await this.#protectedDigests();
    const candidates: Array<{ digest: string; size: number; accessed: number }> = [];
    let protectedBytes = 0;
    for (const [digest, size] of this.#sizes) {
      if (keep.has(digest) || usage.isInUse(digest) || usage.isRecentlyPushed(digest)) {
        protectedBytes += size;
        continue;
      }
      candidates.push({ digest, size, accessed: usage.lastAccess(digest) ?? modified.get(digest) ?? 0 });
    }
    candidates.sort((a, b) => a.accessed - b.accessed || (a.digest < b.digest ? -1 : 1));
    const evicted: Array<{ digest: string; size: number }> = [];
    for (const candidate of candidates) {
      if (this.usedBytes <= this.lowBytes) break;
      // Checked again right before the delete: a request may have started on it meanwhile.
      if (usage.isInUse(candidate.digest) || usage.isRecentlyPushed(candidate.digest) || (usage.lastAccess(candidate.digest) ?? candidate.accessed) > candidate.accessed) {
        protectedBytes += candidate.size;
        continue;
      }
      const digest = tryParseDigest(candidate.digest);
      if (!digest) continue;
      if (await this.#store.blobs.delete(digest)) evicted.push({ digest: candidate.digest, size: candidate.size });
      this.#setSize(candidate.digest, undefined); // (the onDeleted event does it too once started)
    }
    const freedBytes = evicted.reduce((sum, entry) => sum + entry.size, 0);
    const usedAfter = this.usedBytes;
    usage.retainOnly(new Set(this.#sizes.keys()));
    const log = this.#options.logger;
    if (evicted.length > 0) {
      log?.info({ evicted: evicted.length, freedBytes, usedBytes: usedAfter, highBytes: this.highBytes, lowBytes: this.lowBytes, maxBytes: this.#options.maxBytes }, 'evicted least-recently-used blobs');
    }
    if (usedAfter > this.highBytes) {
      this.#blockedUntil = this.#now() + EVICTION_BACKOFF_MS;
      log?.warn({ usedBytes: usedAfter, highBytes: this.highBytes, protectedBytes }, 'blobs stay above the high watermark: the rest is pushed images, images no upstream can give back, manifests or blobs in use; raise --max-disk-usage or delete images');
    }
    return { evicted, freedBytes, usedBefore, usedAfter, protectedBytes };
  }

  /** Manifests, and everything pushed images and unrefetchable tags reach. */
  async #protectedDigests(): Promise<{ keep: Set<string> }> {
    const { repositories } = this.#store;
    const canRefetch = this.#options.canRefetch ?? (() => true);
    const manifests = new Set<string>();
    const roots: Digest[] = [];
    for (const repository of await repositories.repositories()) {
      for (const digest of await repositories.manifests(repository)) manifests.add(digest.value);
      if (canRefetch(repository)) continue;
      for (const tag of await repositories.tags(repository)) {
        const digest = await repositories.resolveTag(repository, tag);
        if (digest) roots.push(digest);
      }
    }
    const live = new Set<PushedRecord>();
    for (const record of this.#store.pushed.records()) {
      const digest = tryParseDigest(record.digest);
      if (!digest) continue;
      const applies = record.tag !== undefined
        ? (await repositories.resolveTag(record.repository, record.tag))?.value === record.digest
        : await repositories.hasManifest(record.repository, digest);
      if (applies) {
        live.add(record);
        roots.push(digest);
      }
    }
    // Records whose tag was deleted or moved no longer protect anything; young ones stay (the
    // manifest is recorded just before its tag is written).
    const youngSince = this.#now() - PUSH_GRACE_MS;
    await this.#store.pushed.prune((record) => live.has(record) || Date.parse(record.pushedAt) > youngSince).catch((error: unknown) => {
      this.#options.logger?.warn({ err: error }, 'could not rewrite the pushed-manifests record');
    });
    const keep = await markReferenced(this.#store, roots, (message) => this.#options.logger?.debug({ message }, 'eviction mark'));
    for (const digest of manifests) keep.add(digest);
    return { keep };
  }

  /** Walks the blobs: exact sizes (files removed behind the daemon's back drop out). Returns file times. */
  async #rescan(): Promise<Map<string, number>> {
    const changed = new Set<string>();
    this.#changedDuringScan = changed;
    const found = new Map<string, number>();
    const modified = new Map<string, number>();
    try {
      for await (const { digest, size, modifiedAt } of this.#store.blobs.list()) {
        found.set(digest.value, size);
        modified.set(digest.value, modifiedAt);
      }
    } finally {
      this.#changedDuringScan = undefined;
    }
    // The events of blobs committed or deleted during the walk know better than the walk.
    for (const digest of changed) {
      const size = this.#sizes.get(digest);
      if (size === undefined) found.delete(digest);
      else found.set(digest, size);
    }
    this.#sizes = found;
    this.#total = 0;
    for (const size of found.values()) this.#total += size;
    return modified;
  }

  #setSize(digest: string, size: number | undefined): void {
    const before = this.#sizes.get(digest);
    if (before !== undefined) this.#total -= before;
    if (size === undefined) this.#sizes.delete(digest);
    else {
      this.#sizes.set(digest, size);
      this.#total += size;
    }
  }
}
