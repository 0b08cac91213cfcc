import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Bytes a cap lets through at once before it starts making transfers wait. Small next to what a
 * second moves at any useful cap, so the rate over a few seconds stays within a few percent of
 * it; big enough that a 64 KiB socket read is not split into many waits.
 */
export const BURST_SECONDS = 0.05;
export const MIN_BURST_BYTES = 64 * 1024;
/** The current rate is measured over this window. */
export const RATE_WINDOW_MS = 5_000;
const SLOT_MS = 250;

/**
 * A token bucket over bytes actually moved, as virtual time (GCRA): every `take` books its bytes
 * after those booked before it and waits until the bucket has caught up. Fair among concurrent
 * transfers (first come, first served), exact over time, no timers while nothing waits.
 * A limit of 0 means unlimited: nothing ever waits, the bytes are only measured.
 */
export class RateLimit {
  readonly name: string;
  #bytesPerSecond: number;
  /** When the bytes booked so far will have gone through at the cap (ms, performance clock). */
  #booked = 0;
  readonly #meter = new RateMeter();

  constructor(name: string, bytesPerSecond: number) {
    this.name = name;
    this.#bytesPerSecond = bytesPerSecond;
  }

  /** Bytes per second; 0: unlimited. */
  get limit(): number {
    return this.#bytesPerSecond;
  }

  /** Bytes per second over the last few seconds. */
  get rate(): number {
    return this.#meter.rate();
  }

  /** Bytes that moved without waiting (no cap anywhere on their path): only measured. */
  count(bytes: number): void {
    this.#meter.add(bytes);
  }

  /** Waits until `bytes` more may move; they are counted as moved when it resolves. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const wait = this.#book(bytes);
    if (wait > 0) await sleep(wait, undefined, signal ? { signal } : {});
    this.#meter.add(bytes);
  }

  /** Ms to wait before `bytes` may go, booking them. */
  #book(bytes: number): number {
    const rate = this.#bytesPerSecond;
    if (rate <= 0) return 0;
    const now = performance.now();
    const burstMs = (Math.max(MIN_BURST_BYTES, rate * BURST_SECONDS) / rate) * 1000;
    this.#booked = Math.max(this.#booked, now) + (bytes / rate) * 1000;
    return Math.max(0, this.#booked - now - burstMs);
  }
}

/** Bytes per second over a sliding window of fixed slots. */
export class RateMeter {
  readonly #slots = new Map<number, number>();

  add(bytes: number): void {
    const slot = Math.floor(performance.now() / SLOT_MS);
    this.#slots.set(slot, (this.#slots.get(slot) ?? 0) + bytes);
    if (this.#slots.size > (RATE_WINDOW_MS / SLOT_MS) * 2) this.#prune(slot);
  }

  rate(): number {
    const current = Math.floor(performance.now() / SLOT_MS);
    this.#prune(current);
    let total = 0;
    for (const bytes of this.#slots.values()) total += bytes;
    return total / (RATE_WINDOW_MS / 1000);
  }

  #prune(current: number): void {
    const oldest = current - RATE_WINDOW_MS / SLOT_MS;
    for (const slot of this.#slots.keys()) if (slot <= oldest) this.#slots.delete(slot);
  }
}

/** Largest slice of a chunk waited for at once, so a cap never lets a big chunk burst through. */
const SLICE_BYTES = 64 * 1024;

/**
 * The chunks of `source`, each let through only when every one of `limits` allows its bytes.
 * Reading stops while a cap makes the transfer wait, so TCP slows the sender down too. The bytes
 * are booked a slice at a time (no burst of a whole chunk at once) but each chunk goes on whole:
 * a received chunk is a write batch held once, which its consumer gives back by its backing store
 * (coalesce.ts), so a batch passed on in slices went back to the pool with the first slice, and the
 * socket's next read refilled it (or a full pool freed it) while the rest was still to be written.
 */
export async function* throttled(source: AsyncIterable<Buffer>, limits: readonly RateLimit[], signal?: AbortSignal): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    for (let offset = 0; offset < chunk.byteLength; offset += SLICE_BYTES) {
      const bytes = Math.min(SLICE_BYTES, chunk.byteLength - offset);
      for (const limit of limits) await limit.take(bytes, signal);
    }
    yield chunk;
  }
}

/** Whether any of `limits` caps its bytes (else they need only be measured, with no wrapper on the stream). */
export function anyCap(limits: readonly RateLimit[]): boolean {
  return limits.some((l) => l.limit > 0);
}

/** The caps of one host: what peers get from it, what it gets (from peers and the seed), what the seed sends it. */
export interface TransferLimitsInit {
  /** Bytes per second; 0 or absent: unlimited. */
  readonly uploadBytesPerSecond?: number;
  readonly downloadBytesPerSecond?: number;
  readonly seedBytesPerSecond?: number;
}

export class TransferLimits {
  readonly upload: RateLimit;
  readonly download: RateLimit;
  readonly seed: RateLimit;

  constructor(init: TransferLimitsInit = {}) {
    this.upload = new RateLimit('upload', init.uploadBytesPerSecond ?? 0);
    this.download = new RateLimit('download', init.downloadBytesPerSecond ?? 0);
    this.seed = new RateLimit('seed', init.seedBytesPerSecond ?? 0);
  }

  /** The caps bytes arriving from this kind of source go through. */
  incoming(from: 'seed' | 'peer'): RateLimit[] {
    return from === 'seed' ? [this.download, this.seed] : [this.download];
  }

  /** For the status page and `shoal status`: each cap and the rate now, bytes per second. */
  snapshot(): Record<'upload' | 'download' | 'seed', { limit: number; rate: number }> {
    const view = (l: RateLimit) => ({ limit: l.limit, rate: Math.round(l.rate) });
    return { upload: view(this.upload), download: view(this.download), seed: view(this.seed) };
  }
}
