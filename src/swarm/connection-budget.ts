// The connection cap split in two: neighbours (the dialer's and every inbound one) and, `reserve`
// short of the cap, room for the short-lived connections this host opens itself for the DHT's
// lookups and to ask its owner committee — a host whose neighbours fill the cap could not look
// anything up, and hosts would disagree on committees. Such a connection is temporary: closed
// after a grace period unless its peer is on a committee this host asks, or it now fits among
// the neighbours. Inbound connections are never temporary: the other side may need us as a
// neighbour (a newcomer whose every dial lands on full hosts would otherwise find nobody).
import type { Connection } from '@libp2p/interface';

/** How long a connection past the neighbour limit lives (a DHT query and its answer take milliseconds). */
export const TEMPORARY_CONNECTION_MS = 3_000;

/**
 * Connections kept free under the cap: one per committee member this host may ask, and an
 * eighth of the cap for DHT lookups (its own and others'); never more than half the cap.
 */
export function committeeReserve(cap: number | undefined, committeeSize: number): number {
  return cap === undefined || committeeSize <= 0 ? 0 : Math.min(committeeSize + Math.ceil(cap / 8), Math.floor(cap / 2));
}

export interface ConnectionBudgetInit {
  /** max-peer-connections; undefined: no cap, nothing to budget. */
  readonly cap: number | undefined;
  readonly reserve: number;
  readonly open: () => readonly Connection[];
  readonly now?: () => number;
}

export class ConnectionBudget {
  readonly #init: ConnectionBudgetInit;
  readonly #now: () => number;
  /** Peers connected past the neighbour limit, until when they may stay. */
  readonly #temporary = new Map<string, number>();
  /** Committee members this host asks: kept until then, temporary or not. */
  readonly #kept = new Map<string, number>();

  constructor(init: ConnectionBudgetInit) {
    this.#init = init;
    this.#now = init.now ?? Date.now;
  }

  /** Room for one more neighbour dial (connections and dials in flight: `pending`). */
  roomForNeighbour(pending: number): boolean {
    const { cap, reserve } = this.#init;
    return cap === undefined || this.#init.open().length + pending < cap - reserve;
  }

  roomForTemporary(pending: number): boolean {
    const { cap } = this.#init;
    return cap === undefined || this.#init.open().length + pending < cap;
  }

  /** A connection opened (`neighbour`: dialled by the dialer): false when it must be closed now (past the cap). */
  opened(connection: Connection, neighbour: boolean): boolean {
    const { cap, reserve } = this.#init;
    if (cap === undefined) return true;
    const open = this.#init.open().length;
    if (open > cap) return false;
    const peer = connection.remotePeer.toString();
    const temporary = connection.direction === 'outbound' && !neighbour && open > cap - reserve;
    if (temporary && !this.#temporary.has(peer)) this.#temporary.set(peer, this.#now() + TEMPORARY_CONNECTION_MS);
    return true;
  }

  /** Connected for a moment only (past the neighbour limit, not a committee member asked). */
  passing(peerId: string): boolean {
    return this.#temporary.has(peerId) && (this.#kept.get(peerId) ?? 0) <= this.#now();
  }

  /** Keep connections to these peers (committee members asked for pieces) for `ms` more. */
  keep(peerIds: readonly string[], ms: number): void {
    const until = this.#now() + ms;
    for (const peer of peerIds) this.#kept.set(peer, Math.max(until, this.#kept.get(peer) ?? 0));
  }

  /**
   * Temporary peers whose time is up: those that still do not fit among the neighbours to hang
   * up on, the rest now neighbours.
   */
  expired(): { close: string[]; stay: string[] } {
    const { cap, reserve } = this.#init;
    const now = this.#now();
    const out: string[] = [];
    const stay: string[] = [];
    let open = this.#init.open().length;
    for (const [peer, until] of this.#kept) if (until <= now) this.#kept.delete(peer);
    for (const [peer, until] of this.#temporary) {
      if (Math.max(until, this.#kept.get(peer) ?? 0) > now) continue;
      this.#temporary.delete(peer);
      if (cap !== undefined && open > cap - reserve) {
        out.push(peer);
        open -= 1;
      } else {
        stay.push(peer);
      }
    }
    return { close: out, stay };
  }

  closed(peerId: string): void {
    this.#temporary.delete(peerId);
  }
}
