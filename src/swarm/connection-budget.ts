// The connection cap split in two: neighbours, and `reserve` short of the cap, room for short-lived
// connections: DHT lookups (this host's and others', inbound) and the owner committee it asks.
// Without the reserve, hosts whose neighbours fill the cap can neither send nor answer a lookup,
// lookups stop at the neighbours, and hosts disagree on committees. A connection opened past the
// neighbour limit, other than by the dialer, is temporary: closed after a grace period unless its
// peer is on a committee this host asks, or it now fits among the neighbours (a newcomer whose dial
// lands on a full host is let go and dials others). While every member heard of fits under the cap
// there is no reserve: a full mesh needs no room for lookups or committees, and holding 64 hosts
// under a cap of 64 to 40 neighbours each made every lookup and committee ask a connection opened
// and let go (7,942 while they formed). Once the swarm outgrows the cap, the newest neighbours past
// the limit are let go (expired()). Crossing dials: crossing-connections.ts.
import type { Connection } from '@libp2p/interface';
import { lookupShare } from './connection-reserve.ts';
import { connectionsByPeer, crossingConnections } from './crossing-connections.ts';

/** Members counted at most (sighted()): far past any cap, so the count only has to say "more than the cap". */
const MAX_KNOWN = 10_000;
/** How long a connection past the neighbour limit lives (a DHT query and its answer take milliseconds). */
export const TEMPORARY_CONNECTION_MS = 3_000;
export { CROSSING_SETTLE_MS } from './crossing-connections.ts';
export { committeeReserve } from './connection-reserve.ts';

export interface ConnectionBudgetInit {
  /** This host's peer id: of two crossing connections, both ends keep the one the lower id dialled. */
  readonly selfId: string;
  /** max-peer-connections; undefined: no cap, nothing to budget. */
  readonly cap: number | undefined;
  readonly reserve: number;
  readonly open: () => readonly Connection[];
  /**
   * Whether the peer said hello (exchanges announcements). Others connected are no neighbours:
   * another host's lookup or committee ask, or a full host we dialled that lets us go. Counted as
   * neighbours, they held a newcomer to 16 hosts under a cap of 10 at 2 neighbours of 5 for a
   * minute, with no room to dial and hosts with room let go (swarm-committee, 1 run in 4).
   */
  readonly speaksWith?: (peerId: string) => boolean;
  readonly now?: () => number;
}

export class ConnectionBudget {
  readonly #init: ConnectionBudgetInit;
  readonly #now: () => number;
  /** Connections opened past the neighbour limit, until when they may stay. */
  readonly #temporary = new Map<Connection, number>();
  /** Connections the dialer opened as neighbour dials (opened()): for their first moments they count as neighbours. */
  readonly #dialled = new WeakSet<Connection>();
  /** Committee members this host asks: kept until then, temporary or not. */
  readonly #kept = new Map<string, number>();
  /** Peers answered (answer()), and for how long each message from them keeps them. */
  readonly #answered = new Map<string, number>();
  /** Swarm members this host has heard of (sighted()), itself excluded. */
  readonly #known = new Set<string>();
  /**
   * Of those, the ones known to be members of this swarm: they spoke its protocol to us, or a
   * member named them (peer exchange). Discovery alone also finds the hosts of another cluster on
   * the LAN (mDNS has one service name; a cluster key only keeps their connections out), which must
   * never be ranked as owners: asked for pieces they cannot answer, and every host goes to the seed.
   */
  readonly #members = new Set<string>();

  constructor(init: ConnectionBudgetInit) {
    this.#init = init;
    this.#now = init.now ?? Date.now;
  }

  /** A swarm member this host heard of (libp2p's peer:discovery): it counts towards the swarm's size. */
  sighted(peerId: string): void {
    if (this.#known.size < MAX_KNOWN) this.#known.add(peerId);
  }

  /** Swarm members heard of (sighted()), itself excluded; at most MAX_KNOWN. */
  get known(): number {
    return this.#known.size;
  }

  /** The members heard of that are known to be this swarm's (owner committees are ranked among them too: committee.ts). */
  heardOf(): Iterable<string> {
    return this.#members;
  }

  /**
   * A member's peer exchange named this peer: a member of this swarm too. Not counted towards the
   * swarm's size (`known`, discovery's count), which sets the neighbour limit: counting it as well
   * moved hosts past the cap's reserve sooner, and a 16-host swarm under a cap of 10 once failed
   * to give every host 3 neighbours within 60 s (swarm-committee).
   */
  named(peerId: string): void {
    if (peerId !== this.#init.selfId && this.#members.size < MAX_KNOWN) this.#members.add(peerId);
  }

  /** A member that refused a connection outright (nothing listens where it was): no longer counted. */
  departed(peerId: string): void {
    this.#known.delete(peerId);
    this.#members.delete(peerId);
  }

  /** Neighbours kept at most: the cap while every member heard of fits under it, else the cap less the reserve. */
  neighbourLimit(): number {
    const { cap, reserve } = this.#init;
    if (cap === undefined) return Infinity;
    return this.#known.size < cap ? cap : cap - reserve;
  }

  /** Fewer than half its neighbours in a swarm past the limit: the dialer tops up sooner. */
  short(): boolean {
    const { cap } = this.#init;
    return cap !== undefined && this.#known.size >= cap && this.#peers() < this.neighbourLimit() / 2;
  }

  /** Room for one more neighbour dial (connections and dials in flight: `pending`). */
  roomForNeighbour(pending: number): boolean {
    const { cap } = this.#init;
    if (cap === undefined) return true;
    // Dials in flight count against the cap, not the neighbour limit: peer exchange hands over a
    // whole list at once, and dials refused here are not tried again.
    return this.#peers() < this.neighbourLimit() && this.#connectedPeers() + pending < cap;
  }

  /**
   * Room for a dial this host makes on its own (dialer.ts topUp) in a swarm of `known` others:
   * when they all fit under the neighbour limit (a full mesh), while there is room; in a larger
   * swarm only while it has fewer than half its neighbour limit (peers named to it fill the rest).
   */
  roomForTopUp(pending: number, known: number): boolean {
    const limit = this.neighbourLimit();
    return this.roomForNeighbour(pending) && (known <= limit || this.#peers() < limit / 2);
  }

  /**
   * Peers connected: the neighbour limit counts peers, not connections (two hosts that dial each
   * other at once may keep two), so a full mesh within the limit is not taken for a full host.
   */
  #peers(dials = true): number {
    return this.#neighbours(this.#init.open(), dials).size;
  }

  /**
   * Of `connections`, by peer, those of neighbours: not another host's lookup (see speaksWith).
   * With `dials`, also the dialer's fresh dials (room: no dialling past the limit); not when
   * choosing whom to let go: one let go before its hello was a host with room, then backed off.
   */
  #neighbours(connections: readonly Connection[], dials: boolean): Map<string, Connection[]> {
    const byPeer = connectionsByPeer(connections);
    const speaksWith = this.#init.speaksWith;
    if (!speaksWith) return byPeer;
    // A dial of ours has a moment to hear the peer's hello (past it, the peer is full and lets us
    // go); the dialer's only: counting the DHT's, a short host did not look short.
    const dialledLately = (c: Connection) => dials && this.#dialled.has(c) && Date.now() - c.timeline.open < TEMPORARY_CONNECTION_MS;
    for (const [peer, cs] of byPeer) if (!speaksWith(peer) && !cs.some(dialledLately)) byPeer.delete(peer);
    return byPeer;
  }

  /** Peers with an open connection, neighbours or not. */
  #connectedPeers(): number {
    return new Set(this.#init.open().map((c) => c.remotePeer.toString())).size;
  }

  roomForTemporary(pending: number): boolean {
    const { cap } = this.#init;
    return cap === undefined || this.#init.open().length + pending < cap;
  }

  /** A connection opened (`neighbour`: dialled by the dialer): false when it must be closed now (past the cap). */
  opened(connection: Connection, neighbour: boolean): boolean {
    const { cap } = this.#init;
    if (cap === undefined) return true;
    const open = this.#init.open();
    if (open.length > cap) return false;
    if (neighbour && connection.direction === 'outbound') this.#dialled.add(connection);
    const peer = connection.remotePeer;
    // A second connection to a peer we already have is no new relationship: not temporary.
    const another = open.some((c) => c !== connection && c.remotePeer.equals(peer));
    // Every peer connected counts here: a new inbound connection has not said hello yet.
    if (!neighbour && !another && this.#connectedPeers() > this.neighbourLimit()) this.#temporary.set(connection, this.#now() + TEMPORARY_CONNECTION_MS);
    return true;
  }

  /**
   * Of two connections to one peer dialled from both ends, the one the higher peer id dialled,
   * once the other has been open a while (so both ends see it open and agree on what to close),
   * when this host holds more connections than its neighbour limit.
   */
  crossing(): Connection[] {
    const { selfId, cap } = this.#init;
    const open = this.#init.open();
    // Only where the cap is near: closing one moves the announce streams it carried, and peers
    // that left and came back during a pull (8 hosts, cap 64) had owners change under it.
    if (cap === undefined || open.length <= Math.min(this.neighbourLimit(), cap - 1)) return [];
    return crossingConnections(open, selfId);
  }

  /** Connected for a moment only (past the neighbour limit, not a committee member asked). */
  passing(peerId: string): boolean {
    if ((this.#kept.get(peerId) ?? 0) > this.#now()) return false;
    const connections = this.#init.open().filter((c) => c.remotePeer.toString() === peerId);
    return connections.length > 0 && connections.every((c) => this.#temporary.has(c));
  }

  /** Whether this host asks the peer as a committee member now (keep(), not an asker it answered): our snapshot says so ('ask'). */
  asking(peerId: string): boolean {
    if (this.#answered.has(peerId)) return false;
    // With under half the neighbours of a swarm past the cap (however few members it knows), it
    // asks the peers it dials to keep it though full (answer()): a newcomer to a swarm where every
    // host was at its limit stayed short for good. A host that is not full ignores the ask.
    const { cap, reserve } = this.#init;
    const few = cap !== undefined && this.#peers(false) < (cap - reserve) / 2;
    return (this.#kept.get(peerId) ?? 0) > this.#now() || (few && this.#init.open().some((c) => this.#dialled.has(c) && c.remotePeer.toString() === peerId));
  }

  /**
   * A peer connected for a moment said it asks us as an owner (a committee member it dialled,
   * swarm.ts `found`; protocol.ts 'ask'). Answered (true: the caller opens our stream back, so
   * the peer hears our hello, our data URL and our pieces) while this host holds no more
   * connections than the cap less the DHT lookups' share; the
   * connection is then kept for `ms`, and longer while the peer keeps talking (heard()). Without
   * this, an owner at its neighbour limit never said hello to a host that dialled it, and let it
   * go after TEMPORARY_CONNECTION_MS: the host never saw the owner, and its pieces waited for the
   * committee gate's 20 s (bench:scale, real part past the neighbour limit).
   */
  answer(peerId: string, ms: number): boolean {
    const { cap } = this.#init;
    if (cap === undefined || !this.passing(peerId)) return false;
    // The asker's connection is among those open: answered while they are at most the cap less that share.
    if (this.#init.open().length > cap - lookupShare(cap)) return false;
    this.#answered.set(peerId, ms);
    this.keep([peerId], ms);
    return true;
  }

  /**
   * A message from the peer: an answered asker that keeps talking is kept on. A passing peer whose
   * hello ends (`synced`) without an ask knocked for a neighbour slot (lookups say no hello): it is
   * judged now, not in 3 s (knocks held that long filled the caps of hosts with room).
   */
  heard(peerId: string, type?: string): void {
    if (this.#members.size < MAX_KNOWN) this.#members.add(peerId);
    const ms = this.#answered.get(peerId);
    if (ms !== undefined) this.keep([peerId], ms);
    else if (type === 'synced' && this.passing(peerId)) for (const [c] of this.#temporary) if (c.remotePeer.toString() === peerId) this.#temporary.set(c, this.#now());
  }

  /** Keep connections to these peers (committee members asked for pieces) for `ms` more. */
  keep(peerIds: readonly string[], ms: number): void {
    const until = this.#now() + ms;
    for (const peer of peerIds) this.#kept.set(peer, Math.max(until, this.#kept.get(peer) ?? 0));
  }

  /**
   * Temporary connections whose time is up: those that still do not fit among the neighbours to
   * close, the peers of the rest now neighbours; and neighbours past the limit (the swarm outgrew
   * the cap), the newest first, to close.
   */
  expired(): { close: Connection[]; stay: string[] } {
    const { cap } = this.#init;
    const limit = this.neighbourLimit();
    const now = this.#now();
    const close: Connection[] = this.crossing();
    const stay: string[] = [];
    let open = this.#peers(false);
    for (const [peer, until] of this.#kept) {
      if (until > now) continue;
      this.#kept.delete(peer);
      this.#answered.delete(peer);
    }
    for (const [connection, until] of this.#temporary) {
      const peer = connection.remotePeer.toString();
      if (Math.max(until, this.#kept.get(peer) ?? 0) > now) continue;
      this.#temporary.delete(connection);
      if (connection.status !== 'open') continue;
      if (cap !== undefined && open > limit) {
        close.push(connection);
        open -= 1;
      } else {
        stay.push(peer);
      }
    }
    if (open > limit) close.push(...this.#pastLimit(limit, close));
    return { close, stay };
  }

  /**
   * The connections of the newest neighbours (peers with no temporary connection) past `limit`,
   * but of those asked as committee members, and those closing already.
   */
  #pastLimit(limit: number, closing: readonly Connection[]): Connection[] {
    const now = this.#now();
    const neighbours = this.#neighbours(this.#init.open().filter((c) => !closing.includes(c)), false);
    for (const [peer, cs] of neighbours) if (cs.some((c) => this.#temporary.has(c))) neighbours.delete(peer);
    const newest = (cs: readonly Connection[]) => Math.max(...cs.map((c) => c.timeline.open));
    const candidates = [...neighbours].filter(([peer]) => (this.#kept.get(peer) ?? 0) <= now).map(([, cs]) => cs);
    return candidates.sort((a, b) => newest(b) - newest(a)).slice(0, Math.max(0, neighbours.size - limit)).flat();
  }

  closed(connection: Connection): void {
    this.#temporary.delete(connection);
  }
}
