// Per-blob neighbour sets, BitTorrent-style: a host's piece progress for a blob (and its load
// changes) go to a bounded set of connected peers that want that blob, not to every connection,
// so what each host says per blob stays flat however large the swarm grows. A swarm this host
// sees whole at that size or below is told everything, as before.
//
// The sets are two-way: a host also tells the peers that tell it, up to half the limit more.
// Each host's own choice is its `limit` best pair scores, but a pair's score ranks differently
// among each end's other peers, so a host could be picked by far fewer peers than it picks: at
// 1,000 simulated hosts one heard 12 against a median of 24, and finished last. A host learns
// who tells it from the progress it receives (peer-table.ts markTeller) and keeps that for the
// rest of the peer's fetch, so a pair whose own choices drop each other meanwhile (connections
// came or went) may keep telling each other until then: the bound holds either way.
import { createHash } from 'node:crypto';

/** Peers told of this host's progress on one blob (default). */
export const DEFAULT_BLOB_NEIGHBOURS = 24;

/** Peers that tell this host, told back beyond its own choice: at most this share of the limit (at least one). */
const TELL_BACK_SHARE = 1 / 2;

/** How many tellers outside its own choice a host tells back, at most, for a given limit. */
export function tellBackLimit(limit: number): number {
  return Math.max(1, Math.ceil(limit * TELL_BACK_SHARE));
}

/**
 * The peers to tell about one blob: every connected peer while there are at most `limit`;
 * else at most `limit` of those that want it, chosen by a score of the pair (the same from
 * both ends, so two wanters mostly pick each other), and then the connected wanters among
 * `tellers` (peers that send this host their progress on the blob) that are not chosen yet,
 * best scored first, at most tellBackLimit(limit) of them.
 */
export function blobNeighbours(selfId: string, digest: string, connected: readonly string[], wanters: readonly string[], limit: number, tellers: Iterable<string> = []): string[] {
  if (connected.length <= limit) return [...connected];
  const live = new Set(connected);
  const candidates = wanters.filter((id) => id !== selfId && live.has(id));
  if (candidates.length <= limit) return candidates;
  const chosen = byScore(selfId, digest, candidates).slice(0, limit);
  const wanting = new Set(candidates);
  const picked = new Set(chosen);
  const back = [...new Set(tellers)].filter((id) => wanting.has(id) && !picked.has(id));
  return [...chosen, ...byScore(selfId, digest, back).slice(0, tellBackLimit(limit))];
}

function byScore(selfId: string, digest: string, ids: readonly string[]): string[] {
  return ids
    .map((id) => ({ id, score: pairScore(digest, selfId, id) }))
    .sort((a, b) => (a.score === b.score ? (a.id < b.id ? -1 : 1) : a.score < b.score ? -1 : 1))
    .map((s) => s.id);
}

function pairScore(digest: string, a: string, b: string): bigint {
  const [low, high] = a < b ? [a, b] : [b, a];
  return createHash('sha256').update(`${digest}\u0000${low}\u0000${high}`).digest().readBigUInt64BE(0);
}
