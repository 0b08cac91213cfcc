import type { PartialBlob } from '../store/index.ts';
import { piecesFromIndexes, type SwarmView } from '../swarm/index.ts';

/**
 * What this host tells peers it has of a blob it is assembling: complete pieces, plus those
 * arriving right now, from the seed or from a peer (peers may read them while they arrive).
 *
 * Pieces arriving from a peer are told so that askers chain: a later asker takes the piece from
 * an earlier one as it arrives, instead of the owner sending it to every asker at once (the owner
 * of 8 of 16 pieces uploaded 96 MiB of a 64 MiB image and set the end of the whole fan-out,
 * bench:fanout 4 hosts × 100 Mbit/s). No two hosts wait on each other: a host asks only for pieces
 * it has no transfer for, so each arriving piece hangs from one that started earlier; and a piece
 * whose transfer broke off after it was told (peers may be reading it from here) is taken again
 * only from a source that cannot be reading it from this host (see chainable).
 */
export class PieceProgress {
  readonly #swarm: SwarmView | undefined;
  readonly #blob: PartialBlob;
  readonly #arrivingNow = new Set<number>();
  /** Every piece ever told as arriving (peers may have begun reading it from here). */
  readonly #toldArriving = new Set<number>();
  /** Pieces told as arriving whose transfer then broke off before they were complete. */
  readonly #brokenOff = new Set<number>();
  /** The bitfields last told (held, then done), so unchanged ones are not told again (a transfer's end after its last piece). */
  #told: Buffer | undefined;

  constructor(swarm: SwarmView | undefined, blob: PartialBlob) {
    this.#swarm = swarm;
    this.#blob = blob;
  }

  /** A seed transfer starts on this piece, or a peer transfer's first bytes of it landed. */
  arriving(index: number): void {
    if (this.#arrivingNow.has(index)) return;
    this.#arrivingNow.add(index);
    this.#toldArriving.add(index);
    this.announce();
  }

  /** A transfer over these pieces ended (each complete or given up). */
  ended(pieces: readonly number[]): void {
    for (const index of pieces) this.#arrivingNow.delete(index);
    this.announce();
  }

  /**
   * A transfer over these pieces failed: those told as arriving and still incomplete were broken
   * off. Not one with no byte here (a seed read that never opened): nobody can be reading it from here.
   */
  brokeOff(pieces: readonly number[]): void {
    for (const index of pieces) if (this.#toldArriving.has(index) && !this.#blob.isPieceComplete(index) && this.#blob.pieceFilled(index) > 0) this.#brokenOff.add(index);
  }

  /**
   * Whether piece `index` may be taken from a holder that may have it only in part. Not after a
   * transfer of it broke off here: that holder may be reading it from this host, and each would
   * wait for the other's bytes until an idle timeout.
   */
  chainable(index: number): boolean {
    return !this.#brokenOff.has(index);
  }

  /** Tells the peers what this host holds now, when that changed since it last told them. */
  announce(): void {
    if (!this.#swarm) return;
    const blob = this.#blob;
    const complete = blob.completePieces();
    const pieces = piecesFromIndexes(blob.size, blob.pieceSize, this.#arrivingNow, complete);
    // Both bitfields side by side: a piece that completes changes what is told (peers move to it off a slow source).
    const told = Buffer.concat([pieces.bitfield, pieces.done!]);
    if (this.#told !== undefined && this.#told.equals(told)) return;
    this.#told = told;
    this.#swarm.announceProgress(blob.digest, blob.size, pieces);
  }
}
