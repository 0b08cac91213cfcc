import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest random weight) hashing over the swarm's members: every host ranks the
 * members by a hash of (digest, piece, member) and the first is the piece's owner, the one host
 * that asks the seed for it. Every host computes the same ranking from the same membership,
 * whatever order it lists the members in; when a member joins or leaves only the pieces it wins
 * or won move (about 1/N of them). The rest of the ranking is the order in which askers fall back
 * when the owner fails.
 */
export function rankOwners(digest: string, piece: number, members: readonly string[]): string[] {
  const scored = members.map((member) => ({ member, score: score(digest, piece, member) }));
  scored.sort((a, b) => (a.score === b.score ? (a.member < b.member ? -1 : 1) : a.score > b.score ? -1 : 1));
  return scored.map((s) => s.member);
}

/** The owner of one piece: the first of rankOwners. */
export function ownerOf(digest: string, piece: number, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const member of members) {
    const s = score(digest, piece, member);
    if (s > bestScore || (s === bestScore && best !== undefined && member < best)) {
      best = member;
      bestScore = s;
    }
  }
  return best;
}

function score(digest: string, piece: number, member: string): bigint {
  return createHash('sha256').update(`${digest}\u0000${piece}\u0000${member}`).digest().readBigUInt64BE(0);
}
