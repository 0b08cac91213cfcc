import type { Readable } from 'node:stream';
import type { ByteRange } from '../oci/index.ts';
import type { PartialBlob } from '../store/index.ts';
import { coalesce } from './coalesce.ts';

/**
 * What a Range GET of a blob not stored here fetches besides the pieces that cover the range:
 * `fetch-all` the rest of the blob afterwards (it is then stored, verified and served like any
 * pulled blob), `range-only` nothing (lazy-pulling snapshotters read a few percent of a layer).
 */
export type RangeFetch = 'fetch-all' | 'range-only';
export const RANGE_FETCH_DEFAULT: RangeFetch = 'fetch-all';

/**
 * A Range read's piece is fetched from the range's first byte rounded down to this (whole pages
 * for the file and the page cache, and asks of the same piece at nearby bytes start alike), so
 * the range's bytes come first and the piece's head after: its first byte no longer waits for
 * half a piece on average.
 */
export const RANGE_FILL_ALIGN = 64 * 1024;

export function rangeFillStart(rangeStart: number): number {
  return rangeStart - (rangeStart % RANGE_FILL_ALIGN);
}

/**
 * A transfer started for a Range read writes its first bytes as they arrive: the range's 64 KiB
 * block and the next (a small read ends in them), where other transfers join network chunks into
 * writes of half a MiB (coalesce.ts): over a 1 Gbit/s link those took 4 ms to gather.
 */
export const RANGE_EAGER_BYTES = 2 * RANGE_FILL_ALIGN;

export async function* rangeFirstWrites(source: AsyncIterable<Buffer>, minBytes: number): AsyncGenerator<Buffer> {
  const chunks = source[Symbol.asyncIterator]();
  for (let passed = 0; passed < RANGE_EAGER_BYTES; ) {
    const next = await chunks.next();
    if (next.done === true) return;
    passed += next.value.byteLength;
    yield next.value;
  }
  yield* coalesce({ [Symbol.asyncIterator]: () => chunks }, minBytes);
}

/** A range that is the whole blob is a whole read (a client resuming from byte 0, say). */
export function wholeRange(range: ByteRange, size: number): boolean {
  return range.start === 0 && range.end >= size - 1;
}

/**
 * Resolves true once every piece covering `range` is complete; false if the blob failed or the
 * reader was closed first (the client went away: nothing more is fetched for it).
 */
export function coveringPiecesDone(blob: PartialBlob, range: ByteRange, reader: Readable): Promise<boolean> {
  const first = Math.floor(range.start / blob.pieceSize);
  const last = Math.floor(range.end / blob.pieceSize);
  const done = (): boolean => {
    for (let index = first; index <= last; index++) if (!blob.isPieceComplete(index)) return false;
    return true;
  };
  return new Promise<boolean>((resolve) => {
    let settled = false;
    const finish = (value: boolean): void => {
      if (settled) return;
      settled = true;
      unsubscribe();
      resolve(value);
    };
    const unsubscribe = blob.onChange(() => {
      if (done()) finish(true);
    });
    // A reader that got all its bytes ends before its last piece is complete (the range stops
    // inside it): wait for the piece. Only a reader closed early means the client went away.
    reader.once('close', () => {
      if (!reader.readableEnded) finish(done());
    });
    blob.done().then(() => finish(true), () => finish(false));
    if (done()) finish(true);
  });
}
