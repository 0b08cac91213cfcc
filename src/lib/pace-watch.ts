// A stream of chunks that fails when its sender falls under a floor: fewer than
// `floorBytesPerSecond` over `windowMs` of waiting on it. Only the time spent waiting for the
// sender counts (not the consumer's own work between chunks), on the steady clock (a stalled
// process does not blame its sender). A window that ends while the sender is waited on is judged
// without waiting for its next byte: under the floor, `abort` is called, which must end the
// pending read.
import { steadyNow, steadyTimeout } from './steady-clock.ts';

export interface PaceFloor {
  readonly floorBytesPerSecond: number;
  readonly windowMs: number;
  /** The error for a sender that fell under the floor: `bytes` in `ms` of waiting. */
  readonly tooSlow: (bytes: number, ms: number) => Error;
}

export async function* paceWatched<T extends { readonly byteLength: number }>(chunks: AsyncIterable<T>, pace: PaceFloor, abort: (error: Error) => void): AsyncGenerator<T> {
  const { floorBytesPerSecond, windowMs } = pace;
  const floor = (floorBytesPerSecond * windowMs) / 1000;
  const iterator = chunks[Symbol.asyncIterator]();
  let waitedMs = 0;
  let bytes = 0;
  try {
    for (;;) {
      let since = steadyNow();
      let cancel = (): void => undefined;
      // A window that ends while the sender is waited on is judged then: under the floor, the read
      // is aborted; else the next window starts (a burst then silence gets two windows, not forever).
      const arm = (ms: number): void => {
        cancel = steadyTimeout(ms, () => {
          if (bytes < floor) return abort(pace.tooSlow(bytes, windowMs));
          waitedMs = 0;
          bytes = 0;
          since = steadyNow();
          arm(windowMs);
        });
      };
      arm(windowMs - waitedMs);
      let next: IteratorResult<T>;
      try {
        next = await iterator.next();
      } finally {
        cancel();
      }
      if (next.done === true) return;
      waitedMs += steadyNow() - since;
      bytes += next.value.byteLength;
      if (waitedMs >= windowMs) {
        if (bytes < (floorBytesPerSecond * waitedMs) / 1000) throw pace.tooSlow(bytes, waitedMs);
        waitedMs = 0;
        bytes = 0;
      }
      yield next.value;
    }
  } finally {
    await iterator.return?.();
  }
}
