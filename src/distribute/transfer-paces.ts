// How fast each running transfer of one blob goes, over windows of waiting on its source, and the
// best paces this host saw lately: what crawling-transfer.ts judges a crawling transfer and a
// stalled owner by. Time a transfer's writes waited for the blob's client does not count, and a
// transfer whose source has not answered is left to the connect and answer timeouts.
import type { Transfer } from './piece-transfers.ts';

/** A transfer is judged over this long of waiting on its source. */
export const CRAWL_WINDOW_MS = 3_000;
/** It crawls when, at its pace over the last window, the rest of its pieces would take longer than this... */
export const CRAWL_REST_MS = 3_000;
/**
 * ...and a transfer of this blob went this many times faster within BEST_PACE_MS. Without that,
 * it is this host's own link that is slow (or the whole swarm): every transfer crawls alike, and
 * moving them only starts them over elsewhere (a host whose link fell to 2 Mbit/s moved its
 * transfers around, its new connections timed out, it blamed its peers and read the rest from the
 * seed: 1.29x seed egress).
 */
export const CRAWL_SLOWER_THAN_BEST = 4;
/** A healthy host stuck on one piece has had nothing else to measure for a while (a minute: its transfer got no byte for 83 s). */
export const BEST_PACE_MS = 60_000;
/**
 * A piece's owner stalls when its transfer of a piece it has not got complete, judged over
 * STALL_WINDOW_MS from its first byte, would take longer than that again, while this host's own seed reads went
 * STALL_SLOWER_THAN_SEED times faster within SEED_PACE_MS: the owner's bytes come from the same
 * seed, so it is the owner that is slow, not the seed (a slow seed slows every host's reads alike;
 * with 12 seed reads sharing it, a read alone early went 12 times faster than one later). And the
 * last transfer this host finished went that much faster too: a host whose own link fell finishes
 * only slow ones, and took its healthy owners for stalled (a seed read of each piece more).
 */
export const STALL_WINDOW_MS = 10_000;
export const STALL_SLOWER_THAN_SEED = 16;
export const SEED_PACE_MS = 60_000;
/** A transfer's pace counts toward the best once this much of it landed (a first chunk is no pace). */
const PACE_MIN_BYTES = 256 * 1024;
/** A transfer measured whole (at its end) counts from this size: its first burst is a small part of it. */
const WHOLE_PACE_MIN_BYTES = 1024 * 1024;

/** Each transfer's pace over consecutive windows of `windowMs` (not counting paced time). */
class WindowMeter {
  readonly #windowMs: number;
  readonly #fromFirstByte: boolean;
  readonly #samples = new WeakMap<Transfer, { readonly at: number; readonly bytes: number; readonly pacedMs: number }>();

  /** `fromFirstByte`: windows start once the transfer's first bytes landed (before, it waits for its source's own source). */
  constructor(windowMs: number, fromFirstByte = false) {
    this.#windowMs = windowMs;
    this.#fromFirstByte = fromFirstByte;
  }

  /** Bytes per ms over the window that ends now, or undefined when no window ends now. */
  sample(transfer: Transfer, now: number): number | undefined {
    const { openedAt, firstAt, pacingSince, bytes, pacedMs } = transfer.timing;
    if (openedAt === 0 || pacingSince !== 0 || (this.#fromFirstByte && firstAt === 0)) {
      this.#samples.delete(transfer);
      return undefined;
    }
    const sample = this.#samples.get(transfer);
    if (sample === undefined) {
      this.#samples.set(transfer, { at: now, bytes, pacedMs });
      return undefined;
    }
    const waited = now - sample.at - (pacedMs - sample.pacedMs);
    if (waited < this.#windowMs) return undefined;
    this.#samples.set(transfer, { at: now, bytes, pacedMs });
    return (bytes - sample.bytes) / waited;
  }
}

/** The best pace seen within a memory: a faster one replaces it, and any once it is older than the memory. */
class BestPace {
  readonly #memoryMs: number;
  #best = { bytesPerMs: 0, at: Number.NEGATIVE_INFINITY };

  constructor(memoryMs: number) {
    this.#memoryMs = memoryMs;
  }

  saw(bytesPerMs: number, now: number): void {
    if (bytesPerMs >= this.#best.bytesPerMs || now - this.#best.at > this.#memoryMs) this.#best = { bytesPerMs, at: now };
  }

  lately(now: number): number {
    return now - this.#best.at <= this.#memoryMs ? this.#best.bytesPerMs : 0;
  }
}

/** The paces of one blob's running transfers, for its engine's tick to ask about (every running transfer, every tick). */
export class TransferPaces {
  readonly #crawlMeter = new WindowMeter(CRAWL_WINDOW_MS);
  // An owner answered an ask before its seed read of the piece began (its turn at a slow seed):
  // nothing comes until then, and that is no stall (swarm-egress, 8 Mbit/s seed: 1.0625x).
  readonly #stallMeter = new WindowMeter(STALL_WINDOW_MS, true);
  readonly #seedMeter = new WindowMeter(CRAWL_WINDOW_MS);
  readonly #verdicts = new WeakMap<Transfer, { readonly crawling: boolean; readonly bytesPerMs: number }>();
  readonly #best = new BestPace(BEST_PACE_MS);
  readonly #bestSeed = new BestPace(SEED_PACE_MS);
  /** The pace of the last transfer of this blob that ended (whole, from its source's answer). */
  #lastEnded = 0;
  /** The pace of this host's seed reads running now (their last windows). */
  readonly #seedNow = new BestPace(2 * CRAWL_WINDOW_MS);

  /** Whether `transfer`, with `remaining` bytes still to come, crawls (judged once per CRAWL_WINDOW_MS). */
  crawls(transfer: Transfer, remaining: number, now = Date.now()): boolean {
    this.seen(transfer, now);
    const bytesPerMs = this.#crawlMeter.sample(transfer, now);
    if (bytesPerMs === undefined) return false;
    const crawling = remaining > bytesPerMs * CRAWL_REST_MS && this.#best.lately(now) > bytesPerMs * CRAWL_SLOWER_THAN_BEST;
    this.#verdicts.set(transfer, { crawling, bytesPerMs });
    return crawling;
  }

  /** Whether `transfer` (from a piece's owner, of a piece it has not got complete) stalls (judged once per STALL_WINDOW_MS). */
  stalls(transfer: Transfer, remaining: number, now = Date.now()): boolean {
    const bytesPerMs = this.#stallMeter.sample(transfer, now);
    if (bytesPerMs === undefined) return false;
    // This host's seed reads running now, if any, else its best lately: a host whose own seed
    // reads crawl now (its link fell, or the seed is busy) takes no owner for stalled.
    const seedNow = this.#seedNow.lately(now);
    const seed = seedNow > 0 ? seedNow : this.#bestSeed.lately(now);
    return remaining > bytesPerMs * STALL_WINDOW_MS && Math.min(seed, this.#lastEnded) > bytesPerMs * STALL_SLOWER_THAN_SEED;
  }

  /** Whether `transfer` crawled when last judged (until its next window). */
  crawling(transfer: Transfer): boolean {
    return this.#verdicts.get(transfer)?.crawling === true;
  }

  /** Bytes per ms over `transfer`'s last judged window; undefined before its first. */
  windowPace(transfer: Transfer): number | undefined {
    return this.#verdicts.get(transfer)?.bytesPerMs;
  }

  /**
   * Counts a running transfer's pace since its source answered toward the best (a seed read's too:
   * it is never moved, but it shows this host's link is not the slow part), and a seed read's pace
   * over whole windows toward the seed's best (its first bytes come in a burst that says nothing
   * of the seed's pace: a shaped link's burst allowance, the socket buffers).
   */
  seen(transfer: Transfer, now = Date.now(), ended = false): void {
    const { bytes, openedAt, pacedMs, pacingSince } = transfer.timing;
    const seed = transfer.source.kind === 'seed';
    if (seed) {
      const windowPace = this.#seedMeter.sample(transfer, now);
      if (windowPace !== undefined) {
        this.#bestSeed.saw(windowPace, now);
        this.#seedNow.saw(windowPace, now);
      }
    }
    if (openedAt === 0 || pacingSince !== 0 || bytes < PACE_MIN_BYTES) return;
    const bytesPerMs = bytes / Math.max(1, now - openedAt - pacedMs);
    this.#best.saw(bytesPerMs, now);
    if (!ended || bytes < WHOLE_PACE_MIN_BYTES) return;
    this.#lastEnded = bytesPerMs;
    // A seed read shorter than a window is measured whole at its end, once its burst is a small part of it.
    if (seed) this.#bestSeed.saw(bytesPerMs, now);
  }
}
