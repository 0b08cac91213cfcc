// The piece engine's limits: transfers at once (in all, from the seed, from one peer) and how long
// a failed, lying or busy source is left alone. The simulation (bench/scale) runs with the same.

/**
 * Transfers at once for this host's own need, at most (see activePieceLimit). A piece from a peer
 * comes no faster than that peer gets it (cut-through) and than its share of the peer's uplink, so
 * a host's slots are mostly held by slow flows while a swarm spreads a blob: with 8, every host had
 * all 8 taken and its downlink 40% used, and half the hosts served nobody (bench:scale, 256 MiB,
 * 1 Gbit/s, last finish / ideal over seeds: N = 32 and 128, 8 at once: 2.2–2.6; 16: 1.8–1.9;
 * 24: 1.5–1.6; 32: 1.34–1.46; 48 and 64: 1.4–1.6).
 */
export const DEFAULT_MAX_ACTIVE_PIECES = 32;
/** Transfers at once with few peers (DEFAULT_MAX_PER_PEER binds first there: 3 peers × 2 + seed 2 = 8). */
export const MIN_ACTIVE_PIECES = 8;

/**
 * Own transfers at once with `peers` peers: about 1.5 per peer, between MIN_ACTIVE_PIECES and `max`.
 * Taking DEFAULT_MAX_PER_PEER from every peer at once (all a small swarm allows) put every host on
 * the owners' uplinks at once (bench:scale, 8 hosts, 256 MiB, 5 seeds: 8 at once 1.16–1.24x ideal,
 * 10: 1.09–1.16, 12: 1.08–1.11, 16 = 2 per peer: 1.12–1.47; 16 hosts: 16 at once 1.46–1.56, 24: 1.29–1.34).
 */
export function activePieceLimit(peers: number, max = DEFAULT_MAX_ACTIVE_PIECES): number {
  return Math.max(Math.min(MIN_ACTIVE_PIECES, max), Math.min(max, Math.round(1.5 * peers)));
}
/**
 * Of those, seed transfers at once. Kept apart from the total: a seed shared by many hosts gives
 * each a slow trickle, and seed pieces holding every slot left a host's link idle while peers had
 * pieces for it (fan-out bench, 4 hosts at 100 Mbit/s: 1.43x ideal with one shared limit of 4).
 */
export const DEFAULT_MAX_SEED_PIECES = 2;
/**
 * Own transfers from peers at once, per blob, while this host reads anything from the seed and has
 * at most SEED_FIRST_MAX_PEERS peers. Its seed reads share its downlink with them, and every other
 * host waits for those bytes: with its full share of peer transfers, the owner that started last
 * got a seventh of its downlink for its seed pieces, which ended 2 s after the rest while the
 * seed's link idled (bench:fanout 4 hosts × 100 Mbit/s). The bytes from peers come later instead;
 * the downlink carries the same in all. A/B, 6 interleaved pairs, load 9–11: last finish
 * 1.42–1.65× ideal (median 1.54) against 1.52–1.79× (1.66), seed egress 1.000.
 */
export const SEED_FIRST_PEER_PIECES = 2;
/**
 * Peers at most for SEED_FIRST_PEER_PIECES. With more, an owner's share of the seed is a smaller
 * part of its downlink and its seed reads hold it beside the usual peer transfers, while a host
 * with few peer transfers fell behind: 8 hosts × 200 Mbit/s with the cap, 2 pairs (CPU-bound,
 * load 16–28): 3.82 and 3.25× ideal against 3.60 and 2.49× without.
 */
export const SEED_FIRST_MAX_PEERS = 3;

/**
 * Seed reads at once on this host, of all its blobs and owner asks together, in a small swarm (1
 * to SEED_FIRST_MAX_PEERS peers). The seed's link is a plain FIFO queue: with a read per piece
 * (up to 5 per host: 2 own per blob, plus every piece peers asked for) the hosts that started
 * first took most of it and had their pieces by 2.5 s, while the last owner's pieces ended at
 * 6–8 s and every host waited for them. One read each, in turn, gives every host an even share
 * over the whole pull, and its pieces come one after another, each spread to the peers as it
 * arrives. Fan-out bench 4 × 100 Mbit/s, 6 interleaved pairs at load 22–37 (CPU-bound): last
 * finish 1.76–2.66× ideal, median 1.98, against 1.89–2.56×, median 2.41; seed egress 1.000.
 * An owner ask that would wait for these reads is answered busy (PieceEngine.askWouldWait): queued
 * instead, on a slow seed (4 × 20 Mbit/s, 256 MiB) its asker heard nothing for longer than its
 * patience and read the piece from the seed itself (seed egress 1.187). Told busy, it asks again.
 * An ask answered goes before this host's own pieces (SeedReads.asksWaiting in piece-sourcing.ts).
 * With both, 6 interleaved pairs at 4 × 100 Mbit/s (load 1–6): 1.38–1.49× ideal, median 1.42,
 * against 1.52–1.65×, median 1.59, seed egress 1.000 in all.
 */
export const SMALL_SWARM_SEED_READS = 1;

/** Whether a host with `peers` peers keeps to SMALL_SWARM_SEED_READS seed reads at once. */
export function seedReadsLimited(peers: number): boolean {
  return peers > 0 && peers <= SEED_FIRST_MAX_PEERS;
}

/** Whether one more seed read may start on a host with `peers` peers and `seedReads` running (or spoken for). */
export function seedReadFree(peers: number, seedReads: number): boolean {
  return !seedReadsLimited(peers) || seedReads < SMALL_SWARM_SEED_READS;
}

/** Whether a host with `peers` peers and `seedReads` seed reads running keeps its peer transfers to SEED_FIRST_PEER_PIECES. */
export function seedReadsFirst(peers: number, seedReads: number): boolean {
  return seedReads > 0 && peers <= SEED_FIRST_MAX_PEERS;
}

/** Own transfers at once, per blob: activePieceLimit, or SEED_FIRST_PEER_PIECES from peers beside seed reads in a small swarm. */
export function peerPieceLimit(peers: number, seedReads: number, max = DEFAULT_MAX_ACTIVE_PIECES): number {
  return seedReadsFirst(peers, seedReads) ? Math.min(SEED_FIRST_PEER_PIECES, max) : activePieceLimit(peers, max);
}
/** Transfers at once from one peer. */
export const DEFAULT_MAX_PER_PEER = 2;
/** A peer that failed a piece is not asked for anything for a while. */
export const PEER_FAILURE_PENALTY_MS = 30_000;
/** A peer whose bytes failed verification is banned as a source for this long. */
export const LIAR_BAN_MS = 10 * 60_000;
/**
 * The seed is given up on by a fetch once it has failed MAX_SEED_FAILURES times (the reads one
 * outage breaks at once count as one) over at least SEED_OUTAGE_MS without sending a byte. Three
 * reads broken by one 15 s outage counted as three failures within a second and a half and failed
 * pulls that peers held half of; a seed restart outlasts its own time down by the upstream's
 * marked-down period (fault audit).
 */
export const MAX_SEED_FAILURES = 3;
export const SEED_OUTAGE_MS = 60_000;
/** The pause after the seed's first failure; each next failure doubles it, up to SEED_RETRY_MAX_MS (or the upstream's own "tried again in"). */
export const SEED_RETRY_BASE_MS = 1_000;
export const SEED_RETRY_MAX_MS = 8_000;
/** A peer that answered "busy" is not asked again for this long (it is not a failure: no penalty, no seed). */
export const BUSY_BACKOFF_MS = 300;
/**
 * ...unless, as a holder (or as the member that took the piece over: piece-takeover.ts), it has
 * answered nothing but "busy" for this long (no byte of the blob from it since its first busy
 * answer) and no byte of the blob came from anywhere else either: then it is penalised as a failed
 * peer. A host that announced a blob and answered busy to everything held every other host's pull
 * of it for good (waited for, never the seed). A holder kept busy by its own upload while the pull
 * goes on is honest: timed on its answers alone, 211 honest holders were penalised in a 128-host
 * bench:scale run with 0.5 Mbit/s uploads. Owners answer busy by design while their seed reads are
 * taken, and are not timed so.
 */
export const BUSY_GIVE_UP_MS = 30_000;
