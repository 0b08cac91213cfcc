import type { Readable } from 'node:stream';
import { OciError, type ByteRange } from '../oci/index.ts';
import type { OwnerAsk, PeerData } from './peer-data.ts';
import type { BlobSource, BlobWant } from './types.ts';

/**
 * Where the piece engine gets bytes of a blob from: the seed, a peer that holds them, or the
 * peer that owns the piece (which fetches it from the seed on demand if it has not got it).
 * Every transfer, a lone host's included, goes through one of these.
 */
export interface PieceSource {
  /** `seed`, or the peer's id. */
  readonly id: string;
  readonly kind: 'seed' | 'holder' | 'owner';
  /** A peer that holds the whole blob: it serves from its disk, at its link's pace (slow-source.ts). */
  readonly fromDisk?: boolean;
  /** A peer that held the piece complete when asked: its pace is its link's, not its own source's (crawling-transfer.ts). */
  readonly pieceDone?: boolean;
  /** The bytes of `range` (inclusive), streaming; throws when the source cannot serve them. */
  open(range: ByteRange, signal: AbortSignal): Promise<Readable>;
}

/** The seed registries behind a BlobSource, checked against the size the engine trusts. */
export function seedPieceSource(seed: BlobSource, want: BlobWant, size: number): PieceSource {
  return {
    id: 'seed',
    kind: 'seed',
    async open(range, signal) {
      const opened = await seed.open(want, range, signal);
      if (!opened) throw new OciError('BLOB_UNKNOWN', `the seed does not have ${want.digest.value}`);
      if (opened.size !== size) {
        opened.stream.on('error', () => undefined);
        opened.stream.destroy();
        throw new OciError('SIZE_INVALID', `the seed says ${want.digest.value} is ${opened.size} bytes, not the ${size} this fetch was started with`);
      }
      return opened.stream;
    },
  };
}

/** A peer's data plane: as a holder of the bytes, or as the owner asked to get them. */
/** `from`: this host's peer id, told to a holder too, so it does not take this host for a source of the pieces it reads from it (piece-readers.ts). */
export function peerPieceSource(peers: PeerData, peer: { readonly peerId: string; readonly url: string; readonly complete?: boolean; readonly pieceDone?: boolean }, want: BlobWant, ask: OwnerAsk | undefined, from?: string): PieceSource {
  return {
    id: peer.peerId,
    kind: ask ? 'owner' : 'holder',
    fromDisk: ask === undefined && peer.complete === true,
    pieceDone: ask === undefined && (peer.complete === true || peer.pieceDone === true),
    open: (range, signal) => peers.fetchRange(peer.url, want.digest, range, signal, ask, from),
  };
}
