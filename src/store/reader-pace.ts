// Writes of an arriving blob that run far ahead of its one client wait for it: the bytes that
// client reads next are then still among the blob's recent chunks (handed-over.ts) rather than
// read back from the file. Unpaced, a peer's 512 MiB blob arrived faster than the receiving
// node's client took it, and 85% of it was read back from the file: a thread-pool trip, a copy
// and a wake-up per 256 KiB, on the same two cores (bench/peer-transfer.bench.ts).

/**
 * How far past the client's next byte a write may start unpaced: the recent chunks hold 4 MiB,
 * and two transfers with two writes in flight each put up to 2 MiB more beyond this.
 */
export const PACE_AHEAD_BYTES = 1024 * 1024;
/**
 * A client that took nothing for this long while writes waited for it is stalled (or starved of
 * CPU): the blob stops pacing for good, so no client holds a fetch back for longer than this.
 */
export const PACE_STALL_MS = 1_000;

/**
 * The pacing of one blob's writes by its client's reader. Asked before every write and told of
 * every chunk the client takes, so it keeps no timer or promise per wait: the waiting writes share
 * one promise, and one timer per blob watches for a stalled client.
 */
export class ReaderPace {
  /** The client's next byte while it is the blob's one reader and has bytes to take. */
  #at: number | undefined;
  /** When #at last changed (performance.now()). */
  #movedAt = 0;
  #stalled = false;
  /** Resolved on the next wake; shared by every write waiting meanwhile. */
  #next: { readonly promise: Promise<void>; readonly resolve: () => void } | undefined;
  #stallTimer: NodeJS.Timeout | undefined;

  /**
   * The client took the bytes before `position`, and waits for more (`starved`) or not. A client
   * waiting for bytes holds nothing back: those may need a transfer the paced ones leave no slot
   * for, and with pieces arriving out of order from slow links (a swarm) it waits most of the
   * time while far pieces arrive. (Paced then too, the last 20-30% of a peer's blob was read back
   * from the file instead of none: a far piece's writes pushed chunks out while it waited.)
   */
  moved(position: number, starved: boolean, alone: boolean): void {
    const at = alone && !starved && !this.#stalled ? position : undefined;
    // A reader woken by a change that brought it nothing says the same again.
    if (at === this.#at) return;
    this.#at = at;
    this.#movedAt = performance.now();
    this.wake();
  }

  /** A reader came or went: the position known belongs to no one in particular any more. */
  readersChanged(): void {
    this.#at = undefined;
    this.wake();
  }

  /** Lets every waiting write look again (the blob's state changed, or its reader moved). */
  wake(): void {
    const next = this.#next;
    this.#next = undefined;
    next?.resolve();
  }

  /**
   * Undefined when a write at `offset` may go on now; else a promise that resolves when it should
   * look again (the client moved, the readers or the blob changed, or the client stalled).
   */
  wait(offset: number): Promise<void> | undefined {
    const at = this.#at;
    if (at === undefined || offset < at + PACE_AHEAD_BYTES) return undefined;
    if (!this.#next) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      this.#next = { promise, resolve };
    }
    this.#watchStall(PACE_STALL_MS - (performance.now() - this.#movedAt));
    return this.#next.promise;
  }

  /** Checks in `ms` whether writes still wait for a client that took nothing since PACE_STALL_MS. */
  #watchStall(ms: number): void {
    if (this.#stallTimer) return;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      if (!this.#next || this.#at === undefined) return;
      const still = PACE_STALL_MS - (performance.now() - this.#movedAt);
      if (still > 0) return this.#watchStall(still);
      // A client that takes nothing though it has bytes to take holds no fetch back again.
      this.#stalled = true;
      this.#at = undefined;
      this.wake();
    }, Math.max(0, ms));
  }
}
