// How the bytes of one piece fill: from the offset of its first write to the piece's end, then
// wrapping round to its start. A Range read's piece is fetched from the range's first byte, so
// those bytes arrive first and the piece's head follows; every other piece starts at offset 0.
// One piece's state is two numbers: where its fill started, and how many bytes are present.

/**
 * End (exclusive, an offset in the piece) of the bytes present without a gap from `offset`:
 * `offset` itself when that byte is missing.
 */
export function presentTo(start: number, filled: number, length: number, offset: number): number {
  if (filled >= length) return length;
  const tailEnd = Math.min(length, start + filled);
  if (offset >= start && offset < tailEnd) return tailEnd;
  // Bytes that wrapped round to the piece's start.
  const headEnd = start + filled - length;
  if (offset < headEnd) return headEnd;
  return offset;
}

/**
 * The run a transfer fills next, as offsets in the piece ([start, end)): where the fill stopped,
 * up to the first byte present or the piece's end. An empty piece runs from `from` when that is
 * inside it (a range's first byte), else from 0. A complete piece has an empty run at its end.
 */
export function nextRun(start: number, filled: number, length: number, from: number | undefined): { start: number; end: number } {
  if (filled >= length) return { start: length, end: length };
  if (filled === 0) return { start: from !== undefined && from > 0 && from < length ? from : 0, end: length };
  const at = start + filled;
  return at < length ? { start: at, end: length } : { start: at - length, end: start };
}
