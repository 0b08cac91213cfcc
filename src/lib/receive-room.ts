// A cap on the bytes of write batches that bodies being received (peers' pieces, the seed's
// blobs) hold at once, all transfers together. Each transfer held up to ~7 batches of 512 KiB
// (the one the socket fills, the stream's buffer, its reader's queue, the writes in flight), and
// a fan-out host runs up to 32 transfers: bench:fanout's daemons (8 hosts x 200 Mbit/s) had 50-80
// MiB of ArrayBuffers at their RSS peak, ~2.5 MiB per transfer. Past the cap, a body stops
// reading its socket after the batch it filled, until a batch is given back: the bytes wait in
// the kernel's socket buffer (and the sender's), not in this process. A transfer that waits
// holds no batch, so one that is let go takes the room the next release makes.
// The bodies' holds are counted until the batch's first release (written, or copied elsewhere);
// a body that waited RECEIVE_WAIT_MS goes on whatever the count, so a batch dropped without a
// release (a transfer broken off mid-body, its count left to the garbage collector) can slow the
// transfers down but never stop them.

/**
 * Bytes of batches all bodies being received may hold at once. 8 MiB rather than 16: bench:fanout
 * (8 x 200 Mbit/s, 64 MiB) largest daemon 149.6-156.2 MiB in 12 runs against 156.9-163.1 in 3, last
 * finish alike; a 512 MiB pull-through (one transfer: ~7 batches) and a peer transfer (two pieces
 * at once) went as fast (bench, bench:peer, alternated 3 times each).
 */
export const RECEIVE_ROOM_BYTES = 8 * 1024 * 1024;
/** A body that waited this long for room reads on anyway. */
export const RECEIVE_WAIT_MS = 1_000;
/** What a body let go is expected to take: one batch. */
const BATCH_GUESS_BYTES = 512 * 1024;

/** What a body asks of the room (http1-body.ts). */
export interface ReceiveGate {
  /** Whether a body may take a new batch now. */
  readonly free: () => boolean;
  /** Calls `go` once, when a body may take a new batch (or RECEIVE_WAIT_MS passed). */
  readonly whenFree: (go: () => void) => void;
}

interface Waiter {
  readonly go: () => void;
  readonly at: number;
}

export class ReceiveRoom implements ReceiveGate {
  readonly #limit: number;
  readonly #waitMs: number;
  #used = 0;
  readonly #waiting: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(limitBytes = RECEIVE_ROOM_BYTES, waitMs = RECEIVE_WAIT_MS) {
    this.#limit = limitBytes;
    this.#waitMs = waitMs;
  }

  /** Bytes counted now. */
  get used(): number {
    return this.#used;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  readonly free = (): boolean => this.#used < this.#limit;

  readonly whenFree = (go: () => void): void => {
    if (this.#waiting.length === 0 && this.free()) {
      queueMicrotask(go);
      return;
    }
    this.#waiting.push({ go, at: performance.now() });
    this.#watch();
  };

  /** A body took a batch of `bytes`. */
  add(bytes: number): void {
    this.#used += bytes;
  }

  /** A counted batch was given back (or collected). */
  remove(bytes: number): void {
    this.#used -= bytes;
    this.#serve();
  }

  /** Lets go as many waiters as the free room has batches for, oldest first. */
  #serve(): void {
    for (let room = this.#limit - this.#used; this.#waiting.length > 0 && room > 0; room -= BATCH_GUESS_BYTES) this.#waiting.shift()!.go();
    if (this.#waiting.length === 0) this.#stopWatch();
  }

  /** Lets go, whatever the count, the waiters that waited RECEIVE_WAIT_MS, when they get there. */
  #watch(): void {
    if (this.#timer) return;
    const oldest = this.#waiting[0];
    if (!oldest) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const due = performance.now() - this.#waitMs;
      while (this.#waiting.length > 0 && this.#waiting[0]!.at <= due) this.#waiting.shift()!.go();
      this.#watch();
    }, Math.max(1, oldest.at + this.#waitMs - performance.now()));
    this.#timer.unref();
  }

  #stopWatch(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
