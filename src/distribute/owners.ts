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
  scored.sort(byScore);
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

/**
 * Members at most among which owners are balanced (ownerRanking). With few members, rendezvous
 * alone leaves one owning far more than its share (4 members, 16 pieces: the busiest owns ~6),
 * and its uplink sets when the last host finishes (fan-out bench, 4 hosts × 100 Mbit/s: 1.37–1.82×
 * ideal). Above it, balanced owners finished later in the simulation (bench:scale, 32 hosts,
 * 256 MiB at 1 Gbit/s: 1.71–1.84× ideal, rendezvous 1.44–1.54×), and on a membership change they
 * move more pieces than rendezvous (bench/owners-churn.bench.ts), each a piece hosts may disagree on.
 */
export const MAX_BALANCED_MEMBERS = 8;

/**
 * The owner ranking of one piece of a blob of `pieceCount` pieces. Up to MAX_BALANCED_MEMBERS
 * members, each owns at most ⌈pieceCount ÷ members⌉ pieces: the (piece, member) pairs are taken
 * by rendezvous score, highest first, and a pair gives the piece to the member unless the piece
 * has an owner already or the member its quota. A piece's ranking is its owner, then the rest of
 * its rendezvous ranking (the fallback order). Above MAX_BALANCED_MEMBERS: rankOwners. Either way
 * a function of (digest, pieceCount, member set) alone, so every host computes the same.
 */
export function ownerRanking(digest: string, piece: number, pieceCount: number, members: readonly string[]): readonly string[] {
  if (members.length <= 1 || members.length > MAX_BALANCED_MEMBERS || !(piece >= 0 && piece < pieceCount)) return rankOwners(digest, piece, members);
  return cached(digest, pieceCount, members)[piece]!;
}

/** Balanced rankings kept, by (digest, piece count, member set); a swarm fetches few blobs at once. */
const MAX_CACHED = 64;
const cache = new Map<string, readonly (readonly string[])[]>();

function cached(digest: string, pieceCount: number, members: readonly string[]): readonly (readonly string[])[] {
  const key = `${digest}\u0000${pieceCount}\u0000${[...members].sort().join('\u0000')}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const rankings = balancedRankings(digest, pieceCount, members);
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
  cache.set(key, rankings);
  return rankings;
}

/** Every piece's balanced ranking (ownerRanking's, uncached, whatever the members' count). */
export function balancedRankings(digest: string, pieceCount: number, members: readonly string[]): string[][] {
  const quota = Math.ceil(pieceCount / members.length);
  const pairs: Array<{ piece: number; member: string; score: bigint }> = [];
  for (let piece = 0; piece < pieceCount; piece++) for (const member of members) pairs.push({ piece, member, score: score(digest, piece, member) });
  pairs.sort((a, b) => byScore(a, b) || a.piece - b.piece);
  const owners: Array<string | undefined> = new Array(pieceCount);
  const owned = new Map(members.map((m) => [m, 0]));
  for (const { piece, member } of pairs) {
    if (owners[piece] !== undefined || owned.get(member)! >= quota) continue;
    owners[piece] = member;
    owned.set(member, owned.get(member)! + 1);
  }
  const rankings: string[][] = Array.from({ length: pieceCount }, () => []);
  for (const { piece, member } of pairs) if (member !== owners[piece]) rankings[piece]!.push(member);
  for (const [piece, owner] of owners.entries()) rankings[piece]!.unshift(owner!);
  return rankings;
}

function byScore(a: { member: string; score: bigint }, b: { member: string; score: bigint }): number {
  return a.score === b.score ? (a.member < b.member ? -1 : a.member > b.member ? 1 : 0) : a.score > b.score ? -1 : 1;
}

function score(digest: string, piece: number, member: string): bigint {
  return createHash('sha256').update(`${digest}\u0000${piece}\u0000${member}`).digest().readBigUInt64BE(0);
}
