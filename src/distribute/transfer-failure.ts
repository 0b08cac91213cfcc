// What a transfer that broke off means for one blob's engine: the source is remembered as failed,
// busy or (the seed) paused for the next choices, the peers that asked for its pieces hear at once
// when the seed failed them, the peers reading them from here as they arrived are let go, and a
// full disk stops the whole blob.
import { OciError } from '../oci/index.ts';
import type { PartialBlob } from '../store/index.ts';
import type { PieceDemand } from './piece-demand.ts';
import type { PieceReaders } from './piece-readers.ts';
import { classifyFailure } from './piece-run.ts';
import type { PieceSourcing } from './piece-sourcing.ts';
import type { Transfer } from './piece-transfers.ts';

export interface FailureState {
  readonly partial: PartialBlob;
  readonly sourcing: PieceSourcing;
  readonly demand: PieceDemand;
  readonly urgent: PieceDemand;
  readonly readers: PieceReaders;
}

/** Acts on `transfer` failing with `error` at byte `offset`; returns the error when no source can help (the disk is full). */
export function transferFailed(state: FailureState, transfer: Transfer, error: unknown, offset: number): unknown {
  const { partial, demand } = state;
  const { source } = transfer;
  // They wait for bytes that no longer come: each resumes from a source it chooses (piece-readers.ts).
  const broken = transfer.pieces.filter((index) => !partial.isPieceComplete(index));
  state.readers.failAll(broken, new OciError('UNAVAILABLE', `this host's source of ${partial.digest.value} broke off; resume the piece from another`));
  const kind = classifyFailure(error, source, transfer.controller.signal.aborted);
  if (kind === 'disk-full') {
    demand.failAll(() => error);
    state.urgent.failAll(() => error);
    return error;
  }
  state.sourcing.failed(kind, source, Math.floor(offset / partial.pieceSize), error);
  if (kind === 'seed' || kind === 'seed-final') for (const piece of transfer.pieces) if (demand.has(piece) && !partial.isPieceComplete(piece)) demand.failed(piece, error);
  return undefined;
}
