import type { PartialBlob } from '../store/index.ts';
import { piecesFromIndexes, type SwarmView } from '../swarm/index.ts';

/**
 * What this host tells peers it has of a blob it is assembling: complete pieces, plus those
 * arriving from the seed right now (peers may read them while they arrive). Never pieces arriving
 * from peers, so no two hosts wait on each other.
 */
export class PieceProgress {
  readonly #swarm: SwarmView | undefined;
  readonly #blob: PartialBlob;
  readonly #fromSeedNow = new Set<number>();
  /** The bitfield last told, so an unchanged one is not told again (a transfer's end after its last piece). */
  #told: Uint8Array | undefined;

  constructor(swarm: SwarmView | undefined, blob: PartialBlob) {
    this.#swarm = swarm;
    this.#blob = blob;
  }

  /** A seed transfer starts on this piece. */
  arriving(index: number): void {
    this.#fromSeedNow.add(index);
    this.announce();
  }

  /** A transfer over these pieces ended (each complete or given up). */
  ended(pieces: readonly number[]): void {
    for (const index of pieces) this.#fromSeedNow.delete(index);
    this.announce();
  }

  /** Tells the peers what this host holds now, when that changed since it last told them. */
  announce(): void {
    if (!this.#swarm) return;
    const blob = this.#blob;
    const held = new Set([...blob.completePieces(), ...this.#fromSeedNow]);
    const pieces = piecesFromIndexes(blob.size, blob.pieceSize, held);
    if (this.#told !== undefined && Buffer.compare(this.#told, pieces.bitfield) === 0) return;
    this.#told = pieces.bitfield;
    this.#swarm.announceProgress(blob.digest, blob.size, pieces);
  }
}
