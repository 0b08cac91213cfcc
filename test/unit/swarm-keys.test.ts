import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import * as json from 'multiformats/codecs/json';
import { sha256 } from 'multiformats/hashes/sha2';
import { cidToDigest, digestToCid, digestToKey, tryCidToDigest } from '../../src/swarm/keys.ts';
import { digestOf } from '../../src/oci/index.ts';

const hex = (length: number) => fc.uint8Array({ minLength: length, maxLength: length }).map((bytes) => Buffer.from(bytes).toString('hex'));

describe('content keys (digest ⇄ CIDv1 raw)', () => {
  test('round trip: digest → CID → string → CID → digest, for sha256 and sha512', () => {
    fc.assert(
      fc.property(fc.oneof(hex(32).map((h) => `sha256:${h}`), hex(64).map((h) => `sha512:${h}`)), (digest) => {
        const cid = digestToCid(digest);
        assert.equal(cid.version, 1);
        assert.equal(cid.code, 0x55);
        assert.equal(cidToDigest(cid), digest);
        const key = digestToKey(digest);
        assert.equal(key, cid.toString());
        assert.equal(cidToDigest(CID.parse(key)), digest);
        assert.equal(tryCidToDigest(key), digest);
      }),
      { numRuns: 500 },
    );
  });

  test('the CID is the one multiformats makes from the same bytes (so IPFS tooling agrees)', async () => {
    const bytes = new TextEncoder().encode('a layer');
    const expected = CID.createV1(raw.code, await sha256.digest(bytes));
    assert.equal(digestToKey(digestOf(bytes).value), expected.toString());
    assert.match(expected.toString(), /^bafkrei/);
  });

  test('distinct digests give distinct keys', () => {
    fc.assert(
      fc.property(hex(32), hex(32), (a, b) => {
        fc.pre(a !== b);
        assert.notEqual(digestToKey(`sha256:${a}`), digestToKey(`sha256:${b}`));
      }),
    );
  });

  test('bad digests are refused', () => {
    for (const bad of ['sha256:abc', `md5:${'a'.repeat(32)}`, `sha256:${'A'.repeat(64)}`, '', 'sha256']) {
      assert.throws(() => digestToCid(bad), /digest/i, bad);
    }
  });

  test('untrusted keys: only canonical base32 CIDv1 raw sha2 keys are accepted', async () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const cid = digestToCid(digest);
    const notOurs = [
      cid.toString().toUpperCase(), // another multibase (B…): same content, second spelling
      CID.createV1(json.code, cid.multihash).toString(), // wrong codec
      CID.createV0(cid.multihash as Parameters<typeof CID.createV0>[0]).toString(), // Qm…, v0
      `${cid.toString()}a`,
      'b' + 'a'.repeat(200),
      'not a cid',
      '',
    ];
    for (const key of notOurs) assert.equal(tryCidToDigest(key), undefined, key);
    assert.throws(() => cidToDigest('nope'), /not a shoal content key/);
  });

  test('arbitrary strings never throw from tryCidToDigest', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
      tryCidToDigest(s);
    }));
  });
});
