import { createHash, type Hash } from 'node:crypto';
import { OciError } from './errors.ts';

/** Algorithms shoal stores and verifies. The registry:2 layout keeps each under blobs/<algorithm>/. */
export const SUPPORTED_ALGORITHMS = ['sha256', 'sha512'] as const;
export type DigestAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// The spec's grammar: algorithm-component ([+._-] algorithm-component)* ":" encoded
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** `algorithm:hex`, the canonical string form. */
  readonly value: string;
}

export function isSupportedAlgorithm(algorithm: string): algorithm is DigestAlgorithm {
  return (SUPPORTED_ALGORITHMS as readonly string[]).includes(algorithm);
}

/** Parses a digest string; throws DIGEST_INVALID (400) for anything malformed or unsupported. */
export function parseDigest(input: string): Digest {
  if (typeof input !== 'string' || input.length > 256 || !DIGEST_GRAMMAR.test(input)) {
    throw new OciError('DIGEST_INVALID', `invalid digest ${JSON.stringify(String(input).slice(0, 80))}: expected algorithm:hex, e.g. sha256:<64 hex characters>`);
  }
  const colon = input.indexOf(':');
  const algorithm = input.slice(0, colon);
  const hex = input.slice(colon + 1);
  if (!isSupportedAlgorithm(algorithm)) {
    throw new OciError('DIGEST_INVALID', `unsupported digest algorithm ${JSON.stringify(algorithm)}: use sha256 (or sha512)`);
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new OciError('DIGEST_INVALID', `invalid ${algorithm} digest: expected ${HEX_LENGTH[algorithm]} lowercase hex characters`);
  }
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

export function tryParseDigest(input: string): Digest | undefined {
  try {
    return parseDigest(input);
  } catch {
    return undefined;
  }
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  const hex = createHash(algorithm).update(data).digest('hex');
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

export function digestFromHash(algorithm: DigestAlgorithm, hash: Hash): Digest {
  const hex = hash.digest('hex');
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}
