// A piece read from the seed by a host that does not own it — its owner stalled on it or failed
// the askers, or two hosts see the members differently for a moment — while the owner may be
// reading it from the seed too, to the end: the seed would send the rest of it twice. The reader
// tells the owner (protocol 'taken'), which stops its own seed read of the piece and asks the
// reader for it: the seed sends again only what the two reads overlap. (swarm-egress "slow seed":
// an owner's starved seed read, skipped by its askers and finished anyway, cost 1.05-1.11x the
// image in 3 of 10 runs; CI's "joiner" once 1.16x.)
import type { Logger } from 'pino';
import type { PartialBlob } from '../store/index.ts';
import type { SwarmView } from '../swarm/index.ts';
import type { PieceFailures } from './piece-failures.ts';
import type { PieceSourcing } from './piece-sourcing.ts';
import type { PieceTransfers } from './piece-transfers.ts';

export interface TakeoverParts {
  readonly partial: PartialBlob;
  readonly transfers: PieceTransfers;
  readonly sourcing: PieceSourcing;
  readonly failures: PieceFailures;
  readonly logger: Logger;
  readonly swarm: SwarmView | undefined;
}

export class PieceTakeover {
  readonly #p: TakeoverParts;
  /** Pieces whose owner was told this host reads them from the seed. */
  readonly #told = new Set<number>();

  constructor(parts: TakeoverParts) {
    this.#p = parts;
  }

  /** This host starts reading piece `index` from the seed: the piece's owner, if another member, is told (once). */
  seedReadStarts(index: number): void {
    const { partial, sourcing, swarm } = this.#p;
    const owner = sourcing.owner(index);
    if (owner === undefined || owner === sourcing.selfId || this.#told.has(index)) return;
    this.#told.add(index);
    swarm?.tellPieceTaken?.(owner, partial.digest.value, index);
  }

  /**
   * Member `by` reads piece `index`, which this host owns, from the seed: this host's own seed read
   * of it stops, and the piece is asked of `by` (piece-choice.ts). Once per piece; not for a piece
   * past the blob's end (isPieceComplete counts one as complete too: said outright here), one
   * complete here, one another member owns as this host sees them, nor from a host not a member.
   */
  takenOver(index: number, by: string): void {
    const { partial, transfers, sourcing, failures, logger } = this.#p;
    const self = sourcing.selfId;
    if (by === self || index >= partial.pieceCount || partial.isPieceComplete(index) || failures.takenByOf(index) !== undefined || sourcing.owner(index) !== self || !sourcing.isMember(by)) return;
    failures.takenOver(index, self, by);
    const read = transfers.claimOf(index);
    logger.info({ digest: partial.digest.value, piece: index, by, reading: read?.source.id }, 'a peer reads a piece this host owns from the seed: the piece comes from that peer');
    if (read?.source.kind === 'seed') read.controller.abort(new Error(`${by} reads piece ${index} from the seed; this host's read of it stops`));
  }
}
