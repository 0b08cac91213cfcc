// Which peers are reading each piece of a blob from this host right now, as holders of part of it
// (not as its owner: those are asks, piece-demand.ts). Such a peer is no source for that piece:
// what it has of it came from here. When the source both had been filling the piece from died
// (a host killed mid-preheat), each resumed it from the other and both waited on each other until
// a read's idle limit broke the circle, 30-40 s later (multi-host audit).
//
// Longer circles (h3 reads from h2, h5 from h3, owner h1 from h5; h2 dies, h3 asks owner h1) are
// not seen from one host: so when this host's source for a piece breaks off, the peers reading that
// piece from here are let go at once (failAll), and each resumes it from a source of its own choice.
import type { Readable } from 'node:stream';
import type { ByteRange } from '../oci/index.ts';

const NONE: ReadonlySet<string> = new Set();

export class PieceReaders {
  /** piece index → each open read of it → the peer reading. */
  readonly #reading = new Map<number, Map<Readable, string>>();

  /** `peer` reads `range` through `reader` until it closes. */
  add(range: ByteRange, pieceSize: number, peer: string, reader: Readable): void {
    const first = Math.floor(range.start / pieceSize);
    const last = Math.floor(range.end / pieceSize);
    for (let index = first; index <= last; index++) {
      const reads = this.#reading.get(index) ?? new Map<Readable, string>();
      reads.set(reader, peer);
      this.#reading.set(index, reads);
    }
    reader.once('close', () => {
      for (let index = first; index <= last; index++) {
        const reads = this.#reading.get(index);
        reads?.delete(reader);
        if (reads?.size === 0) this.#reading.delete(index);
      }
    });
  }

  /** The peers reading piece `index` from this host now (asked at every piece choice: no allocation when none). */
  of(index: number): ReadonlySet<string> {
    const reads = this.#reading.get(index);
    return reads === undefined ? NONE : new Set(reads.values());
  }

  /** This host's source for `pieces` broke off: the reads of them end now with `error` (their readers resume elsewhere). */
  failAll(pieces: readonly number[], error: Error): void {
    for (const index of pieces) for (const reader of [...(this.#reading.get(index)?.keys() ?? [])]) reader.destroy(error);
  }
}
