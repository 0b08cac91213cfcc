// What the scale simulation takes from shoal's code and what it models: printed with every run
// and saved in its JSON, so no figure is read as more real than it is.

export const REAL_CODE: readonly string[] = [
  'src/distribute/piece-choice.ts choosePieceSource: every source decision (holder least loaded, else owner by rendezvous, else seed after MAX_OWNERS_ASKED failed owners; busy holders waited for)',
  'src/distribute/owners.ts ownerRanking: the owner ranking of every piece (balanced among up to MAX_BALANCED_MEMBERS members, computed by choosePieceSource over all of them; above, rankOwners over all hosts, once per piece)',
  'src/distribute/serve-slots.ts ServeSlots: each host serves at most DEFAULT_MAX_PEER_SERVES requests and MAX_SERVES_PER_PIECE per piece, answering busy past them',
  'src/distribute/piece-limits.ts activePieceLimit (own transfers at once for a host by its connections, at most DEFAULT_MAX_ACTIVE_PIECES) and constants: DEFAULT_MAX_SEED_PIECES, DEFAULT_MAX_PER_PEER, BUSY_BACKOFF_MS; src/swarm/announcing-swarm.ts LOAD_REPORT_MS',
  'src/swarm/protocol.ts encodeFrame: the byte length of every want/progress/ping/have/unwant frame',
  "'bounded': src/swarm/committee.ts closestToKey (the committee: the owner-committee hosts closest to the blob's key by XOR of SHA-256 ids), src/swarm/connection-budget.ts committeeReserve (neighbours dialled up to the cap less the reserve), src/swarm/neighbours.ts blobNeighbours (whom each host tells of its progress and load), src/distribute/committee-gate.ts committeeAllows (the engine's gate: an owner or seed choice stands only if the committee's ranking says so, else wait)",
];

export const MODELLED: readonly string[] = [
  "the engine loop: piece-engine.ts #schedule re-stated (demanded pieces first, then own pieces lowest first; a pass stops at maxActive own transfers; one piece per request; 'wait' skips to the next piece); a pass runs on a transfer's end, on swarm news (coalesced to one per passGapMs), and every 250 ms while waiting",
  'progress as PieceProgress sends it: after each transfer ends (busy answers too) and when a seed transfer starts; holders count a piece arriving from the seed as held',
  'links: per-host uplink and downlink, the seed uplink; each end water-fills its capacity among its flows, a flow asking at most an equal share of its other end, and runs at the smaller of the two (close to max-min fairness, re-rated when flows start or end one hop around); one-way latency per request and announcement; TCP slow start, losses and CPU are not modelled',
  "cut-through: a holder or owner sends a piece while it is still arriving (its flow starts once the piece's first bytes reach the sender, and runs at link speed, not at the sender's arrival rate); the asker's copy ends no sooner than the holder's",
  "an image of several blobs (option layers): one engine per blob on every host, sharing the host's links and serve slots (its load is told once); each blob's owners balanced on their own, as the engine does",
  'bench/scale/piece-spread.ts (option spreadWaitMs, off by default): a design study of a rule the engine does not have; a piece one busy holder alone offers is left, up to the wait, to the host ranked first among those that lack it',
  'the swarm is formed before the pull (membership settled, every host a member); no failures, no penalties, no verification or disk time',
  'choosePieceSource gets the holders already narrowed to those offering the piece, and, above MAX_BALANCED_MEMBERS members, the first MAX_OWNERS_ASKED + 1 members of the rendezvous ranking (rankOwners scores each member alone, so a subset keeps its order): with no failed or excluded owners it never looks further, so its answer is the same',
  'control bytes are frame bytes (JSON + length prefix); yamux and noise add about 30 bytes per frame, TCP/IP more; the 15 s heartbeat ping to every connection is left out (not per blob)',
  "'capped': shoal's code with max-peer-connections, modelled as a random graph where every host dialled until the cap; each host ranks owners over its own connections",
  "'bounded': shoal's code under max-peer-connections with owner committees: the DHT lookup is taken as converged (every host names the same committee; on real hosts it converges within seconds of the swarm forming, test/integration/swarm-committee.test.ts), the hosts' ids stand for peer ids (kad id = SHA-256 of the id text); connections a random graph (neighbours dialled until cap − reserve), then each host connected to the committee members where both ends have room; a host's load changes are seen by every connection rather than only by those it tells; complete holders are seen by every connection ('have' goes to all). DHT traffic is modelled (dhtCost), not run",
];

/**
 * DHT traffic per host per blob (modelled, not run): the committee lookup (committee.ts) runs when
 * the fetch starts and again 2 s and 4 s later while it converges (a pull of seconds), each one
 * kad-dht getClosestPeers of about 20 + 3 ⌈log2 N⌉ FIND_NODE queries of ~100 B with ~1,100 B
 * answers (20 peer records).
 */
export function dhtCost(hosts: number): { framesPerHost: number; bytesPerHost: number } {
  const queries = 3 * (20 + 3 * Math.max(1, Math.ceil(Math.log2(hosts))));
  return { framesPerHost: 2 * queries, bytesPerHost: queries * 1_200 };
}
