import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { OciError, parseContentRange, parseRangeHeader } from '../../src/oci/index.ts';

function isRangeInvalid(size: number) {
  return (error: unknown): boolean => error instanceof OciError && error.code === 'RANGE_INVALID' && error.status === 416 && error.headers['content-range'] === `bytes */${size}`;
}

function isUploadInvalid(error: unknown): boolean {
  return error instanceof OciError && error.code === 'BLOB_UPLOAD_INVALID' && error.status === 416;
}

describe('parseRangeHeader (Range on blob GET)', () => {
  test('the spec examples against a 10-byte blob', () => {
    assert.deepEqual(parseRangeHeader('bytes=0-0', 10), { start: 0, end: 0 });
    assert.deepEqual(parseRangeHeader('bytes=5-', 10), { start: 5, end: 9 });
    assert.deepEqual(parseRangeHeader('bytes=-3', 10), { start: 7, end: 9 });
    assert.deepEqual(parseRangeHeader('bytes=3-100', 10), { start: 3, end: 9 });
    assert.deepEqual(parseRangeHeader('bytes=-100', 10), { start: 0, end: 9 });
    assert.deepEqual(parseRangeHeader('BYTES=1-2', 10), { start: 1, end: 2 });
  });

  test('no header, an empty one, or another unit: no range (serve the whole blob)', () => {
    for (const header of [undefined, '', 'items=0-1', 'none', '0-1']) assert.equal(parseRangeHeader(header, 10), undefined, String(header));
  });

  test('unsatisfiable or malformed byte ranges are 416 with bytes */size', () => {
    for (const header of ['bytes=10-', 'bytes=10-10', 'bytes=5-2', 'bytes=0-1,3-4', 'bytes=-0', 'bytes=-', 'bytes=x-1', 'bytes=1.5-2', 'bytes=99999999999999999999-']) {
      assert.throws(() => parseRangeHeader(header, 10), isRangeInvalid(10), header);
    }
    assert.throws(() => parseRangeHeader('bytes=0-', 0), isRangeInvalid(0));
    assert.throws(() => parseRangeHeader('bytes=-1', 0), isRangeInvalid(0));
  });

  test('property: bytes=a-b is served as [a, min(b, size-1)] exactly when a <= b and a < size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 2e6 }), fc.integer({ min: 0, max: 2e6 }), (size, a, b) => {
        const header = `bytes=${a}-${b}`;
        if (a <= b && a < size) {
          assert.deepEqual(parseRangeHeader(header, size), { start: a, end: Math.min(b, size - 1) });
        } else {
          assert.throws(() => parseRangeHeader(header, size), isRangeInvalid(size));
        }
      }),
    );
  });

  test('property: bytes=a- and bytes=-n', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 2e6 }), (size, a) => {
        if (a < size) assert.deepEqual(parseRangeHeader(`bytes=${a}-`, size), { start: a, end: size - 1 });
        else assert.throws(() => parseRangeHeader(`bytes=${a}-`, size), isRangeInvalid(size));
        if (a > 0 && size > 0) assert.deepEqual(parseRangeHeader(`bytes=-${a}`, size), { start: Math.max(0, size - a), end: size - 1 });
        else assert.throws(() => parseRangeHeader(`bytes=-${a}`, size), isRangeInvalid(size));
      }),
    );
  });

  test('property: whatever the header, the answer is none, a range inside the blob, or RANGE_INVALID', () => {
    const header = fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(...'bytes=0123456789-, '), maxLength: 30 }));
    fc.assert(
      fc.property(header, fc.integer({ min: 0, max: 1000 }), (h, size) => {
        let range;
        try {
          range = parseRangeHeader(h, size);
        } catch (error) {
          assert.ok(isRangeInvalid(size)(error), String(error));
          return;
        }
        if (range === undefined) return;
        assert.ok(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end));
        assert.ok(range.start >= 0 && range.start <= range.end && range.end < size, `${h} → ${JSON.stringify(range)} of ${size}`);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('parseContentRange (chunk PATCH)', () => {
  test('accepts docker\'s start-end and the RFC form', () => {
    assert.deepEqual(parseContentRange('0-9'), { start: 0, end: 9 });
    assert.deepEqual(parseContentRange(' 10-20 '), { start: 10, end: 20 });
    assert.deepEqual(parseContentRange('bytes 0-9/10'), { start: 0, end: 9 });
    assert.deepEqual(parseContentRange('bytes 0-9/*'), { start: 0, end: 9 });
    assert.deepEqual(parseContentRange('5-5'), { start: 5, end: 5 });
  });

  test('refuses malformed ranges with 416 BLOB_UPLOAD_INVALID', () => {
    for (const header of ['', 'abc', '5-2', '-5', '0-', 'bytes=0-3', '0-3,4-5', '0x0-3', '1.5-2', 'bytes 0-9/', '99999999999999999999-99999999999999999999']) {
      assert.throws(() => parseContentRange(header), isUploadInvalid, JSON.stringify(header));
    }
  });

  test('property: start-end round-trips when start <= end, else 416', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (start, end) => {
        if (start <= end) assert.deepEqual(parseContentRange(`${start}-${end}`), { start, end });
        else assert.throws(() => parseContentRange(`${start}-${end}`), isUploadInvalid);
      }),
    );
  });

  test('property: any header gives an ordered range or BLOB_UPLOAD_INVALID', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'bytes 0123456789-/*'), maxLength: 25 }), (header) => {
        try {
          const { start, end } = parseContentRange(header);
          assert.ok(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start <= end);
        } catch (error) {
          assert.ok(isUploadInvalid(error), String(error));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
