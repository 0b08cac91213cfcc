// Per-blob neighbour sets, BitTorrent-style: a host's piece progress for a blob (and its load
// changes) go to a bounded set of connected peers that want that blob, not to every connection,
// so what each host says per blob stays flat however large the swarm grows. A swarm this host
// sees whole at that size or below is told everything, as before.
import { createHash } from 'node:crypto';

/** Peers told of this host's progress on one blob (default). */
export const DEFAULT_BLOB_NEIGHBOURS = 24;

/**
 * The peers to tell about one blob: every connected peer while there are at most `limit`;
 * else at most `limit` of those that want it, chosen by a score of the pair (the same from
 * both ends, so two wanters mostly pick each other).
 */
export function blobNeighbours(selfId: string, digest: string, connected: readonly string[], wanters: readonly string[], limit: number): string[] {
  if (connected.length <= limit) return [...connected];
  const live = new Set(connected);
  const candidates = wanters.filter((id) => id !== selfId && live.has(id));
  if (candidates.length <= limit) return candidates;
  return candidates
    .map((id) => ({ id, score: pairScore(digest, selfId, id) }))
    .sort((a, b) => (a.score === b.score ? (a.id < b.id ? -1 : 1) : a.score < b.score ? -1 : 1))
    .slice(0, limit)
    .map((s) => s.id);
}

function pairScore(digest: string, a: string, b: string): bigint {
  const [low, high] = a < b ? [a, b] : [b, a];
  return createHash('sha256').update(`${digest}\u0000${low}\u0000${high}`).digest().readBigUInt64BE(0);
}
