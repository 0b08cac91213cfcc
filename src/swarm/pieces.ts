// Piece bitfields, as in BitTorrent: bit i, most significant bit first, is piece i. Compact (a
// 2 GiB layer in 1 MiB pieces is 256 bytes) and checkable: its length follows from size/pieceSize.
import type { PieceSet } from './types.ts';

/** A bitfield may describe at most this many pieces (128 KiB of bits), whatever the blob size. */
export const MAX_PIECES = 1 << 20;

export function pieceCount(size: number, pieceSize: number): number {
  return size === 0 ? 0 : Math.ceil(size / pieceSize);
}

export function hasPiece(pieces: PieceSet, index: number): boolean {
  const byte = pieces.bitfield[index >> 3];
  return byte !== undefined && (byte & (0x80 >> (index & 7))) !== 0;
}

/** A bitfield with the given piece indexes set (for callers that track pieces as numbers). */
export function piecesFromIndexes(size: number, pieceSize: number, indexes: Iterable<number>): PieceSet {
  const count = pieceCount(size, pieceSize);
  const bitfield = new Uint8Array(Math.ceil(count / 8));
  for (const index of indexes) {
    if (!Number.isInteger(index) || index < 0 || index >= count) throw new RangeError(`piece ${index} is outside 0..${count - 1}`);
    bitfield[index >> 3]! |= 0x80 >> (index & 7);
  }
  return { pieceSize, bitfield };
}

export function heldPieces(pieces: PieceSet, size: number): number[] {
  const held: number[] = [];
  for (let i = 0; i < pieceCount(size, pieces.pieceSize); i++) if (hasPiece(pieces, i)) held.push(i);
  return held;
}

/** Why `pieces` cannot describe a blob of `size` bytes, or undefined when it can. */
export function piecesProblem(size: number, pieces: PieceSet): string | undefined {
  const { pieceSize, bitfield } = pieces;
  if (!Number.isSafeInteger(pieceSize) || pieceSize < 1) return 'pieceSize must be a positive integer';
  const count = pieceCount(size, pieceSize);
  if (count > MAX_PIECES) return `more than ${MAX_PIECES} pieces`;
  if (bitfield.byteLength !== Math.ceil(count / 8)) return `bitfield must be ${Math.ceil(count / 8)} bytes for ${count} pieces`;
  const spareBits = bitfield.byteLength * 8 - count;
  const last = bitfield[bitfield.byteLength - 1];
  if (spareBits > 0 && last !== undefined && (last & ((1 << spareBits) - 1)) !== 0) return 'bits past the last piece are set';
  return undefined;
}
