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

/** The pacing of one blob's writes by its client's reader. */
export class ReaderPace {
  /** The client's next byte while it is the blob's one reader and has bytes to take. */
  #at: number | undefined;
  #stalled = false;
  #waiting: Array<() => void> = [];

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
    this.wake();
  }

  /** A reader came or went: the position known belongs to no one in particular any more. */
  readersChanged(): void {
    this.#at = undefined;
    this.wake();
  }

  /** Lets every waiting write look again (the blob's state changed, or its reader moved). */
  wake(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resume of waiting) resume();
  }

  /**
   * Undefined when a write at `offset` may go on now; else a promise that resolves when it should
   * look again (the client moved, the readers or the blob changed, `signal` aborted, or the client
   * stalled). No promise when nothing waits: this is asked before every write.
   */
  wait(offset: number, signal?: AbortSignal): Promise<void> | undefined {
    const at = this.#at;
    if (at === undefined || offset < at + PACE_AHEAD_BYTES || signal?.aborted) return undefined;
    return new Promise((resolve) => {
      const resume = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', resume);
        resolve();
      };
      const timer = setTimeout(() => {
        if (this.#at === at) {
          // A client that takes nothing though it has bytes to take holds no fetch back again.
          this.#stalled = true;
          this.#at = undefined;
        }
        this.wake();
      }, PACE_STALL_MS);
      signal?.addEventListener('abort', resume, { once: true });
      this.#waiting.push(resume);
    });
  }
}
