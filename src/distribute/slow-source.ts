// A peer that holds a whole blob serves it from its disk: its pace is its link's. One that trickles
// bytes (a broken or hostile host: 1 KiB/s passes every idle timeout) held the piece, and every
// client waiting on the blob, for minutes. Its transfer is dropped once it sends less than a floor
// over a window of this host waiting on it (lib/pace-watch.ts); the piece resumes from another
// source (Range) and the peer is penalised like any failed one. Holders of part of a blob and
// owners are not watched: their bytes may be arriving from a seed at the seed's pace, and dropping
// them would send the seed the same piece twice.
import type { PaceFloor } from '../lib/pace-watch.ts';

/** A whole-blob holder sending less than this, averaged over SLOW_WINDOW_MS of waiting on it, is dropped. */
export const MIN_HOLDER_BYTES_PER_SECOND = 64 * 1024;
export const SLOW_WINDOW_MS = 10_000;

export class SlowSourceError extends Error {
  constructor(sourceId: string, bytes: number, ms: number) {
    super(`${sourceId} sent ${bytes} bytes in ${Math.round(ms)} ms, under ${MIN_HOLDER_BYTES_PER_SECOND / 1024} KiB/s: too slow for a host serving from its disk`);
    this.name = 'SlowSourceError';
  }
}

export function holderPace(sourceId: string): PaceFloor {
  return { floorBytesPerSecond: MIN_HOLDER_BYTES_PER_SECOND, windowMs: SLOW_WINDOW_MS, tooSlow: (bytes, ms) => new SlowSourceError(sourceId, bytes, ms) };
}
