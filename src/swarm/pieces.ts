// Piece bitfields, as in BitTorrent: bit i, most significant bit first, is piece i. Compact (a
// 2 GiB layer in 1 MiB pieces is 256 bytes) and checkable: its length follows from size/pieceSize.
import type { PieceSet } from './types.ts';

/** A bitfield may describe at most this many pieces (128 KiB of bits), whatever the blob size. */
export const MAX_PIECES = 1 << 20;

export function pieceCount(size: number, pieceSize: number): number {
  return size === 0 ? 0 : Math.ceil(size / pieceSize);
}

export function hasPiece(pieces: PieceSet, index: number): boolean {
  return isSet(pieces.bitfield, index);
}

/** Whether the holder said piece `index` is complete there (not only arriving). */
export function hasDonePiece(pieces: PieceSet, index: number): boolean {
  return pieces.done !== undefined && isSet(pieces.done, index);
}

function isSet(bitfield: Uint8Array, index: number): boolean {
  const byte = bitfield[index >> 3];
  return byte !== undefined && (byte & (0x80 >> (index & 7))) !== 0;
}

/** A bitfield with the given piece indexes set (for callers that track pieces as numbers); `done`: those of them complete. */
export function piecesFromIndexes(size: number, pieceSize: number, indexes: Iterable<number>, done?: Iterable<number>): PieceSet {
  const count = pieceCount(size, pieceSize);
  const bits = (from: Iterable<number>): Uint8Array => {
    const bitfield = new Uint8Array(Math.ceil(count / 8));
    for (const index of from) {
      if (!Number.isInteger(index) || index < 0 || index >= count) throw new RangeError(`piece ${index} is outside 0..${count - 1}`);
      bitfield[index >> 3]! |= 0x80 >> (index & 7);
    }
    return bitfield;
  };
  const bitfield = bits(indexes);
  if (done === undefined) return { pieceSize, bitfield };
  const doneBits = bits(done);
  for (let i = 0; i < doneBits.byteLength; i++) bitfield[i]! |= doneBits[i]!;
  return { pieceSize, bitfield, done: doneBits };
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
  const { done } = pieces;
  if (done === undefined) return undefined;
  if (done.byteLength !== bitfield.byteLength) return `done must be ${bitfield.byteLength} bytes, as the bitfield`;
  for (let i = 0; i < done.byteLength; i++) if ((done[i]! & ~bitfield[i]!) !== 0) return 'done names a piece the bitfield does not hold';
  return undefined;
}
