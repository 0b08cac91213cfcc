import { hasDonePiece, hasPiece, type Holder } from '../swarm/index.ts';
import { ownerRanking, rankOwners } from './owners.ts';

/**
 * Owners asked for one piece before the seed is asked directly: the owner, then the next in its
 * ranking (by rendezvous, the one the piece moves to if the owner leaves). Past that the owner's trouble is
 * probably the seed's, and asking more hosts would only add hops.
 */
export const MAX_OWNERS_ASKED = 2;

/** A member of the swarm that may own pieces: this host, or a peer with a data plane and our piece size. */
export interface Member {
  readonly peerId: string;
  readonly url: string | undefined;
}

/** What the engine knows when it picks a source for one piece. */
export interface PieceView {
  readonly digest: string;
  readonly index: number;
  readonly size: number;
  readonly pieceSize: number;
  readonly selfId: string;
  /** Peers offering the blob (connected, not penalised). */
  readonly holders: readonly Holder[];
  /** This host and the peers that own pieces, by id. */
  readonly members: ReadonlyMap<string, Member>;
  /** Sources that failed this piece already (peer ids, 'seed'). */
  readonly failed: ReadonlySet<string>;
  /**
   * Peers this host penalised (a failed or slow transfer, a lie): skipped as owners too, as if they
   * had failed the piece. The ranking stays every host's; only this host's next step differs.
   */
  readonly penalised?: (peerId: string) => boolean;
  /** Peers that must not serve this piece: they asked us for it. */
  readonly exclude: ReadonlySet<string>;
  /** A peer asked this host for the piece as its owner: the seed, not another owner, is next. */
  readonly demanded: boolean;
  /** Whether there is a seed to ask at all (and it has not failed too often). */
  readonly seedUsable: boolean;
  /** Transfers running now from each peer; and whether another seed transfer may start. */
  readonly busyWith: (peerId: string) => number;
  readonly maxPerPeer: number;
  readonly seedSlotFree: boolean;
  /**
   * False while this host may not know every member yet, or what they have arriving (just
   * started): a piece it would own by its partial view, or is asked for as owner, is waited for
   * rather than fetched, since another member may be fetching it.
   */
  readonly membershipSettled: boolean;
  /**
   * Whether owners are balanced among few members (owners.ts ownerRanking), over `members` as the
   * whole membership. False under an owner committee (committee-gate.ts), which this host may see
   * only in part: plain rendezvous then, whose order any part of the members keeps.
   */
  readonly balanceOwners: boolean;
  /** The member that reads this piece, which this host owns, from the seed now (piece-takeover.ts): asked for it. */
  readonly takenBy?: string | undefined;
}

export type PieceChoice =
  /** `complete`: the holder has the whole blob; `pieceDone`: it has this piece complete (its pace is its link's, not its own source's). */
  | { readonly kind: 'holder'; readonly peerId: string; readonly url: string; readonly complete: boolean; readonly pieceDone: boolean }
  | { readonly kind: 'owner'; readonly peerId: string; readonly url: string }
  | { readonly kind: 'seed' }
  /** Someone can serve it, but not now (their slots are full): try again when a transfer ends. */
  | { readonly kind: 'wait' }
  /** Nobody can: no holder, no owner that answers, no seed. */
  | { readonly kind: 'none' };

/**
 * Where one piece comes from. A peer that holds it (least loaded first; one that answered busy
 * counts as full); else, for a piece another
 * host asked us for, the seed; else the piece's owner (ownerRanking over the members) — the seed if
 * that is this host — falling back down the ranking and, after MAX_OWNERS_ASKED failed owners,
 * to the seed. A peer that has the piece but is busy is waited for: the seed never sends what the
 * swarm already holds.
 */
export function choosePieceSource(view: PieceView): PieceChoice {
  const offering = view.holders.filter((h) => !view.failed.has(h.peerId) && !view.exclude.has(h.peerId) && offersPiece(h, view.index, view.size, view.pieceSize));
  const free = offering.filter((h) => view.busyWith(h.peerId) < view.maxPerPeer);
  if (free.length > 0) {
    const best = free.reduce((a, b) => (leastBusy(view, b, a) ? b : a));
    return { kind: 'holder', peerId: best.peerId, url: best.url, complete: best.complete, pieceDone: holdsPieceComplete(best, view.index, view.size, view.pieceSize) };
  }
  if (offering.length > 0) return { kind: 'wait' };
  // Whoever asks here: the piece is on its way from the seed there, and this host reads it from the seed no more.
  const takenBy = view.takenBy !== undefined && !view.failed.has(view.takenBy) ? view.members.get(view.takenBy)?.url : undefined;
  if (takenBy !== undefined) return view.busyWith(view.takenBy!) < view.maxPerPeer ? { kind: 'owner', peerId: view.takenBy!, url: takenBy } : { kind: 'wait' };
  const seed = (): PieceChoice => (!view.seedUsable ? { kind: 'none' } : view.seedSlotFree ? { kind: 'seed' } : { kind: 'wait' });
  // A host that just joined may be asked as owner by hosts that saw it first, before it heard
  // which pieces the swarm already has arriving (an old owner's seed read under way: a joiner
  // that read it too sent a 4 MiB piece twice, swarm-egress). Its asker is answered busy meanwhile.
  if (view.demanded) return view.membershipSettled ? seed() : { kind: 'wait' };
  let asked = 0;
  for (const peerId of ownerOrder(view)) {
    // This host too, when another member took its piece over (piece-takeover.ts) and could not serve it.
    if (view.exclude.has(peerId)) continue;
    if (peerId === view.selfId) return !view.seedUsable ? { kind: 'none' } : view.membershipSettled ? seed() : { kind: 'wait' };
    if (view.failed.has(peerId) || view.penalised?.(peerId) === true) {
      asked += 1;
      if (asked >= MAX_OWNERS_ASKED) break;
      continue;
    }
    const url = view.members.get(peerId)?.url;
    if (url === undefined) continue;
    return view.busyWith(peerId) < view.maxPerPeer ? { kind: 'owner', peerId, url } : { kind: 'wait' };
  }
  return seed();
}

/** Whether a holder offers piece `index` of a blob of `size` bytes in pieces of `pieceSize`: whole, or that piece. */
export function offersPiece(h: Holder, index: number, size: number, pieceSize: number): boolean {
  return h.size === size && (h.complete || (h.pieces !== undefined && h.pieces.pieceSize === pieceSize && hasPiece(h.pieces, index)));
}

/** Whether a holder has piece `index` complete (the whole blob, or the piece told done): it cannot be reading it from this host. */
export function holdsPieceComplete(h: Holder, index: number, size: number, pieceSize: number): boolean {
  return h.size === size && (h.complete || (h.pieces !== undefined && h.pieces.pieceSize === pieceSize && hasDonePiece(h.pieces, index)));
}

/** The members in the order they own piece `index`: the owner first, then who it falls to. */
export function ownerOrder(view: Pick<PieceView, 'digest' | 'index' | 'size' | 'pieceSize' | 'members' | 'balanceOwners'>): readonly string[] {
  const members = [...view.members.keys()];
  if (!view.balanceOwners) return rankOwners(view.digest, view.index, members);
  return ownerRanking(view.digest, view.index, view.size === 0 ? 0 : Math.ceil(view.size / view.pieceSize), members);
}

/**
 * Least loaded first: our transfers from the holder plus the piece requests it last said it serves
 * (to every host), so hosts stop piling onto the one that held the blob first; then complete
 * holders; then by id, so hosts spread over holders alike.
 */
function leastBusy(view: PieceView, a: Holder, b: Holder): boolean {
  const load = view.busyWith(a.peerId) + (a.load ?? 0) - view.busyWith(b.peerId) - (b.load ?? 0);
  if (load !== 0) return load < 0;
  if (a.complete !== b.complete) return a.complete;
  return spread(view, a.peerId) < spread(view, b.peerId);
}

/** A per-(host, piece) order of holders, so the hosts asking at once do not all pick the same one. */
function spread(view: PieceView, peerId: string): number {
  let h = 2166136261;
  const text = `${view.selfId}/${view.index}/${peerId}`;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
