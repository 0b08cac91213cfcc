// Content keys: every place a peer names content, it names it by a CIDv1 (raw codec, sha2
// multihash) made from the OCI digest. The mapping is one-to-one, so a Kademlia DHT can take over
// lookups later without changing keys. Inside shoal the API speaks OCI digests; CIDs are the wire.
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import * as Multihash from 'multiformats/hashes/digest';
import { parseDigest, type DigestAlgorithm } from '../oci/index.ts';

/** Multicodec codes of the multihashes that match OCI's digest algorithms. */
const MULTIHASH_CODE: Record<DigestAlgorithm, number> = { sha256: 0x12, sha512: 0x13 };
const MULTIHASH_LENGTH: Record<DigestAlgorithm, number> = { sha256: 32, sha512: 64 };
const ALGORITHM_OF_CODE = new Map<number, DigestAlgorithm>(
  Object.entries(MULTIHASH_CODE).map(([algorithm, code]) => [code, algorithm as DigestAlgorithm]),
);
/** A base32 CIDv1 of a sha512 multihash is 113 characters; anything much longer is not ours. */
const MAX_KEY_LENGTH = 128;
/**
 * Conversions remembered each way. Every announce message names its blobs, and a fan-out sends
 * thousands of messages about the same few digests: base32 and multihash work per message was
 * about 3% of the daemons' CPU. Both mappings are pure, so a cache cannot go stale.
 */
const CACHED_KEYS = 4096;
const keyOfDigest = new Map<string, string>();
const digestOfKey = new Map<string, string>();

function remember(cache: Map<string, string>, from: string, to: string): string {
  // Cleared rather than evicted one by one: the working set is a handful of blobs at a time.
  if (cache.size >= CACHED_KEYS) cache.clear();
  cache.set(from, to);
  return to;
}

/** `sha256:<hex>` → CIDv1(raw, sha2-256). Throws the oci module's DIGEST_INVALID for a bad digest. */
export function digestToCid(digest: string): CID {
  const parsed = parseDigest(digest);
  const multihash = Multihash.create(MULTIHASH_CODE[parsed.algorithm], Buffer.from(parsed.hex, 'hex'));
  return CID.createV1(raw.code, multihash);
}

/** The wire key of a digest: the CID in its canonical string form (base32, `b…`). */
export function digestToKey(digest: string): string {
  return keyOfDigest.get(digest) ?? remember(keyOfDigest, digest, digestToCid(digest).toString());
}

/** CID (object or string) → `sha256:<hex>`; throws for anything that is not a key shoal makes. */
export function cidToDigest(cid: CID | string): string {
  const digest = tryCidToDigest(cid);
  if (digest === undefined) throw new Error(`not a shoal content key: ${String(cid).slice(0, 80)}`);
  return digest;
}

/**
 * For untrusted input (peers' messages): the digest, or undefined. Only canonical strings are
 * accepted (CIDv1, base32, raw codec, a known multihash of the right length), so one digest has
 * exactly one key and a peer cannot make two entries for the same blob.
 */
export function tryCidToDigest(input: CID | string): string | undefined {
  if (typeof input === 'string') {
    const known = digestOfKey.get(input);
    if (known !== undefined) return known;
    const digest = cidStringToDigest(input);
    return digest === undefined ? undefined : remember(digestOfKey, input, digest);
  }
  return digestOfCid(input);
}

function cidStringToDigest(input: string): string | undefined {
  if (input.length > MAX_KEY_LENGTH || !input.startsWith('b')) return undefined;
  let cid: CID;
  try {
    cid = CID.parse(input);
  } catch {
    return undefined;
  }
  return cid.toString() === input ? digestOfCid(cid) : undefined;
}

function digestOfCid(cid: CID): string | undefined {
  if (cid.version !== 1 || cid.code !== raw.code) return undefined;
  const algorithm = ALGORITHM_OF_CODE.get(cid.multihash.code);
  if (algorithm === undefined || cid.multihash.digest.byteLength !== MULTIHASH_LENGTH[algorithm]) return undefined;
  return `${algorithm}:${Buffer.from(cid.multihash.digest).toString('hex')}`;
}
