// A peer that holds a whole blob serves it from its disk: its pace is its link's. One that trickles
// bytes (a broken or hostile host: 1 KiB/s passes every idle timeout) held the piece, and every
// client waiting on the blob, for minutes. Its transfer is dropped once it sends less than a floor
// over a window of this host waiting on it; the piece resumes from another source (Range) and the
// peer is penalised like any failed one. Only the time spent waiting for the peer counts (not this
// host's own pacing or writes), on the steady clock (a stalled process does not blame its peers).
// Holders of part of a blob and owners are not watched: their bytes may be arriving from a seed
// at the seed's pace, and dropping them would send the seed the same piece twice.
import { steadyNow, steadyTimeout } from '../lib/steady-clock.ts';

/** A whole-blob holder sending less than this, averaged over SLOW_WINDOW_MS of waiting on it, is dropped. */
export const MIN_HOLDER_BYTES_PER_SECOND = 64 * 1024;
export const SLOW_WINDOW_MS = 10_000;

export class SlowSourceError extends Error {
  constructor(sourceId: string, bytes: number, ms: number) {
    super(`${sourceId} sent ${bytes} bytes in ${Math.round(ms)} ms, under ${MIN_HOLDER_BYTES_PER_SECOND / 1024} KiB/s: too slow for a host serving from its disk`);
    this.name = 'SlowSourceError';
  }
}

/**
 * The chunks of `chunks`, failing with SlowSourceError when the source falls under the floor; `abort`
 * is called with that error when the source sends nothing until the window is over (so the read
 * waiting on it ends without waiting for its next byte).
 */
export async function* paceWatched<T extends { readonly byteLength: number }>(chunks: AsyncIterable<T>, sourceId: string, abort: (error: Error) => void, window = SLOW_WINDOW_MS): AsyncGenerator<T> {
  const floor = (MIN_HOLDER_BYTES_PER_SECOND * window) / 1000;
  const iterator = chunks[Symbol.asyncIterator]();
  let waitedMs = 0;
  let bytes = 0;
  try {
    for (;;) {
      const since = steadyNow();
      const cancel = bytes < floor ? steadyTimeout(window - waitedMs, () => abort(new SlowSourceError(sourceId, bytes, window))) : undefined;
      let next: IteratorResult<T>;
      try {
        next = await iterator.next();
      } finally {
        cancel?.();
      }
      if (next.done === true) return;
      waitedMs += steadyNow() - since;
      bytes += next.value.byteLength;
      if (waitedMs >= window) {
        if (bytes < (MIN_HOLDER_BYTES_PER_SECOND * waitedMs) / 1000) throw new SlowSourceError(sourceId, bytes, waitedMs);
        waitedMs = 0;
        bytes = 0;
      }
      yield next.value;
    }
  } finally {
    await iterator.return?.();
  }
}
