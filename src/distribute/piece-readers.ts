// Which peers are reading each piece of a blob from this host right now, as holders of part of it
// (not as its owner: those are asks, piece-demand.ts). Such a peer is no source for that piece:
// what it has of it came from here. When the source both had been filling the piece from died
// (a host killed mid-preheat), each resumed it from the other and both waited on each other until
// a read's idle limit broke the circle, 30-40 s later (multi-host audit).
import type { Readable } from 'node:stream';
import type { ByteRange } from '../oci/index.ts';

const NONE: ReadonlySet<string> = new Set();

export class PieceReaders {
  /** piece index → peer → how many of its reads are open. */
  readonly #reading = new Map<number, Map<string, number>>();

  /** `peer` reads `range` through `reader` until it closes. */
  add(range: ByteRange, pieceSize: number, peer: string, reader: Readable): void {
    const first = Math.floor(range.start / pieceSize);
    const last = Math.floor(range.end / pieceSize);
    for (let index = first; index <= last; index++) {
      const peers = this.#reading.get(index) ?? new Map<string, number>();
      peers.set(peer, (peers.get(peer) ?? 0) + 1);
      this.#reading.set(index, peers);
    }
    reader.once('close', () => {
      for (let index = first; index <= last; index++) {
        const peers = this.#reading.get(index);
        const left = (peers?.get(peer) ?? 0) - 1;
        if (left > 0) peers!.set(peer, left);
        else peers?.delete(peer);
        if (peers?.size === 0) this.#reading.delete(index);
      }
    });
  }

  /** The peers reading piece `index` from this host now (asked at every piece choice: no allocation when none). */
  of(index: number): ReadonlySet<string> {
    const peers = this.#reading.get(index);
    return peers === undefined ? NONE : new Set(peers.keys());
  }
}
