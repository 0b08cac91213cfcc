import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest random weight) hashing: of the hosts that want a blob, the one with the
 * highest hash of (digest, piece, host) fetches that piece from the seed. Every host computes the
 * same answer from the same set of wanters, each piece has exactly one owner, and when a host
 * joins or leaves only the pieces it wins or held move.
 */
export function electedFor(digest: string, piece: number, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const candidate of candidates) {
    const score = createHash('sha256').update(`${digest}\u0000${piece}\u0000${candidate}`).digest().readBigUInt64BE(0);
    if (score > bestScore || (score === bestScore && best !== undefined && candidate < best)) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}
