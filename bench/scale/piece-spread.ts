// A design study of the simulation (option spreadWaitMs, off by default), not the engine's: in
// bench:fanout, 4 hosts × 100 Mbit/s, 4 interleaved pairs on one machine (load 3.6–5), the engine
// with it finished at 1.42–1.71x ideal, without at 1.39–1.50x (seed egress 1.000 in all), though
// in-process one 8 MiB/s holder and three askers of 16 MiB took 2.5 s instead of 6.5.

/**
 * Which host takes a piece first from the one busy peer that offers it. Every host fetches lowest
 * piece first (a client reads the blob in order), so when one peer — typically the owner of the
 * most pieces, whose last ones come from the seed late — is the only one offering pieces, every
 * host that lacks them asks it for the same pieces at the same moment (it announces them, they all
 * wake): its uplink carries every copy while theirs idle (bench:fanout, 4 hosts × 100 Mbit/s:
 * that tail was 2–3 s of a 5.4 s ideal). Instead, once that peer is serving others, one host,
 * ranked first among those lacking the piece by a hash of (blob, piece, host), takes it; the
 * others leave it for a moment, then find it arriving at that host too and take it from whichever
 * of the two is less loaded (cut-through), so the piece spreads as a tree. Each lacking host ranks
 * first for some of the pieces, so each takes different ones from the busy peer and passes them on.
 * A peer serving nobody is asked by all at once, as before: the simulation (bench:scale, 8 hosts,
 * 256 MiB, 1 Gbit/s) finished later when hosts also left pieces of idle holders (1.35x ideal vs
 * 1.14x); with the load gate, 1.18x.
 */

/**
 * How long a host leaves a piece offered by one peer alone to the host ranked first to take it:
 * long enough for that host to start and announce it (a pass, a round trip, its first bytes),
 * short enough that a first-ranked host that does not take it (its slots full, gone) costs little.
 */
export const SPREAD_WAIT_MS = 400;

export interface SpreadView {
  readonly digest: string;
  readonly index: number;
  readonly selfId: string;
  /** Peers offering the piece now (holding it, or having it arrive); none: its owner is asked. */
  readonly offering: number;
  /** Piece requests the one offering peer last said it serves (Holder.load). */
  readonly holderLoad: number;
  /** Other peers that want the blob and lack the piece (by their progress, if they told any). */
  readonly lacking: readonly string[];
  /** When this host first left the piece to another (ms, same clock as `now`). */
  readonly leftSince: number;
  readonly now: number;
}

/** Whether this host leaves the piece, for now, to a lacking peer ranked before it. */
export function leaveToOther(view: SpreadView, waitMs = SPREAD_WAIT_MS): boolean {
  if (view.offering !== 1 || view.holderLoad < 1 || view.lacking.length === 0 || view.now - view.leftSince >= waitMs) return false;
  const mine = spreadRank(view.digest, view.index, view.selfId);
  return view.lacking.some((peer) => peer !== view.selfId && spreadRank(view.digest, view.index, peer) < mine);
}

/**
 * A number every host computes alike for (blob, piece, host): FNV-1a of the three, then mixed
 * (murmur3's finaliser; FNV alone ranked one of 4 hosts first for 12% of the pieces, not 25%).
 */
export function spreadRank(digest: string, index: number, host: string): number {
  let h = 2166136261;
  const text = `${digest}/${index}/${host}`;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
