import { OciError } from './errors.ts';

export interface ByteRange {
  /** first byte, inclusive */
  readonly start: number;
  /** last byte, inclusive */
  readonly end: number;
}

/**
 * Parses a single `Range: bytes=...` header against a resource of `size` bytes (RFC 9110 §14.1.2).
 * Returns undefined when there is no range to honour (absent header, or a unit other than bytes,
 * which RFC 9110 says to ignore). Throws RANGE_INVALID (416) when the range cannot be satisfied
 * or is malformed; several ranges are refused the same way since a blob endpoint answers one.
 */
export function parseRangeHeader(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined || header === '') return undefined;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) {
    if (!/^\s*bytes\s*=/i.test(header)) return undefined;
    throw rangeError(size, `unsupported or malformed range ${JSON.stringify(header.slice(0, 80))}: use a single range, bytes=start-end`);
  }
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') throw rangeError(size, 'malformed range: bytes=- has neither start nor end');
  let start: number;
  let end: number;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) throw rangeError(size, 'suffix range of zero bytes');
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) throw rangeError(size, `range end ${last} before start ${first}`);
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start >= size || size === 0) {
    throw rangeError(size, `range starts at ${first || 'suffix'} but the blob has ${size} bytes`);
  }
  return { start, end };
}

function rangeError(size: number, message: string): OciError {
  return new OciError('RANGE_INVALID', message, undefined, { headers: { 'content-range': `bytes */${size}` } });
}

/**
 * Parses an upload chunk's `Content-Range` (`<start>-<end>`, as docker and the spec send it, also
 * accepting the RFC form `bytes start-end/total`). Throws BLOB_UPLOAD_INVALID (416) when malformed.
 */
export function parseContentRange(header: string): ByteRange {
  const match = /^\s*(?:bytes\s+)?(\d+)-(\d+)(?:\/(?:\d+|\*))?\s*$/i.exec(header);
  if (!match) {
    throw new OciError('BLOB_UPLOAD_INVALID', `malformed Content-Range ${JSON.stringify(header.slice(0, 80))}: expected <start>-<end>`, undefined, { status: 416 });
  }
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    throw new OciError('BLOB_UPLOAD_INVALID', `invalid Content-Range ${header}: end before start`, undefined, { status: 416 });
  }
  return { start, end };
}

/** The Range header of an upload's status: inclusive, 0-(size-1); registry:2 sends 0-0 when empty. */
export function uploadRangeHeader(size: number): string {
  return `0-${Math.max(0, size - 1)}`;
}
