import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { OciError, createDigester, digestFromHash, digestOf, isSupportedAlgorithm, parseDigest, tryParseDigest } from '../../src/oci/index.ts';

const hex = (length: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });

function isDigestInvalid(error: unknown): boolean {
  return error instanceof OciError && error.code === 'DIGEST_INVALID' && error.status === 400;
}

describe('parseDigest', () => {
  test('accepts sha256 and sha512 with lowercase hex of the right length', () => {
    const h = 'a'.repeat(64);
    assert.deepEqual(parseDigest(`sha256:${h}`), { algorithm: 'sha256', hex: h, value: `sha256:${h}` });
    const h512 = '0f'.repeat(64);
    assert.deepEqual(parseDigest(`sha512:${h512}`), { algorithm: 'sha512', hex: h512, value: `sha512:${h512}` });
  });

  test('refuses malformed, unsupported and non-canonical digests with DIGEST_INVALID', () => {
    const h = 'ab'.repeat(32);
    for (const input of [
      '',
      'sha256',
      'sha256:',
      ':' + h,
      'sha256:totallywrong',
      'md5:abc',
      `md5:${'a'.repeat(32)}`,
      `SHA256:${h}`,
      `sha256:${h.toUpperCase()}`,
      `sha256:${h}0`,
      `sha256:${h.slice(1)}`,
      `sha256:${h} `,
      ` sha256:${h}`,
      `sha256::${h}`,
      `sha256:${h.slice(2)}zz`,
      `sha512:${h}`,
      `sha256+b64:${h}`,
      `sha256:${'a'.repeat(300)}`,
      `sha256:${h}\n`,
    ]) {
      assert.throws(() => parseDigest(input), isDigestInvalid, JSON.stringify(input));
      assert.equal(tryParseDigest(input), undefined);
    }
  });

  test('property: every sha256/sha512 digest string round-trips', () => {
    fc.assert(
      fc.property(fc.oneof(hex(64).map((h) => `sha256:${h}`), hex(128).map((h) => `sha512:${h}`)), (value) => {
        const parsed = parseDigest(value);
        assert.equal(parsed.value, value);
        assert.equal(`${parsed.algorithm}:${parsed.hex}`, value);
        assert.ok(isSupportedAlgorithm(parsed.algorithm));
      }),
    );
  });

  test('property: any string either parses to itself or throws DIGEST_INVALID', () => {
    const near = fc.oneof(
      fc.string(),
      fc.tuple(fc.constantFrom('sha256', 'sha512', 'SHA256', 'md5', 'sha256+x', ''), fc.constantFrom(':', '::', ''), fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF=_-:'), maxLength: 140 })).map(([a, c, h]) => `${a}${c}${h}`),
    );
    fc.assert(
      fc.property(near, (input) => {
        let parsed;
        try {
          parsed = parseDigest(input);
        } catch (error) {
          assert.ok(isDigestInvalid(error), String(error));
          return;
        }
        assert.equal(parsed.value, input);
        assert.match(parsed.hex, parsed.algorithm === 'sha256' ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{128}$/);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: changing the case of any hex letter makes the digest invalid', () => {
    fc.assert(
      fc.property(hex(64).filter((h) => /[a-f]/.test(h)), (h) => {
        const i = h.search(/[a-f]/);
        const upper = `${h.slice(0, i)}${h[i]!.toUpperCase()}${h.slice(i + 1)}`;
        assert.throws(() => parseDigest(`sha256:${upper}`), isDigestInvalid);
      }),
    );
  });
});

describe('digestOf and digestFromHash', () => {
  test('property: digestOf agrees with node:crypto and parses back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.constantFrom('sha256' as const, 'sha512' as const), (bytes, algorithm) => {
        const digest = digestOf(bytes, algorithm);
        assert.equal(digest.hex, createHash(algorithm).update(bytes).digest('hex'));
        assert.deepEqual(parseDigest(digest.value), digest);
        const hash = createDigester(algorithm);
        // fed in two pieces, the streaming hash agrees
        hash.update(bytes.subarray(0, bytes.length >> 1));
        hash.update(bytes.subarray(bytes.length >> 1));
        assert.deepEqual(digestFromHash(algorithm, hash), digest);
      }),
    );
  });

  test('the empty blob has the well-known digest', () => {
    assert.equal(digestOf(new Uint8Array()).value, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(digestOf('{}').value, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  });
});
