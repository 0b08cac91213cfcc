// Keeps the swarm connected. libp2p 3 no longer dials discovered peers by itself, and
// @libp2p/bootstrap dials its list once, so: dial every peer mDNS or libp2p reports (each mDNS
// sighting, not only the first, so a host that restarts is back within one query interval), and
// re-dial bootstrap peers that are not connected every `redialIntervalMs`. Peers also tell each
// other whom they are connected to (peer exchange), so hosts that bootstrap from one seed host
// across subnets still form a full mesh: announcements are not relayed, every pair talks directly.
// Under a connection cap peer exchange keeps naming hosts that are full: a dial to one fails (past
// libp2p's cap) or is let go after a few seconds (connection-budget.ts), and every later mention
// dialled it again (at 128 loopback hosts under a cap of 64: 59,000 dials, 54,000 failed, while
// starting them). Such a peer is not dialled through peer exchange again for a while, a longer
// while each time in a row; and while a host has room it dials a few known peers it is not
// connected to every `redialIntervalMs`, so a dial refused once (the peer was full, or busy) is
// tried again later instead of only when some peer happens to mention that host again.
import type { Connection, PeerId, PeerInfo, Startable } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { parseBootstrapAddress } from '../lib/bootstrap-address.ts';
import type { SwarmLogger } from './logger.ts';
import type { SwarmNode } from './node.ts';
import { MAX_PEER_ADDRESSES, type PeerAddresses } from './protocol.ts';

export const DEFAULT_REDIAL_INTERVAL_MS = 10_000;
/** A learned peer whose dial failed, or that closed our connection within this long, is not dialled again for a while. */
export const SHORT_CONNECTION_MS = 10_000;
/** First wait before a peer that refused us is dialled again through peer exchange; it doubles up to MAX_DIAL_BACKOFF_MS. */
export const DIAL_BACKOFF_MS = 2_000;
export const MAX_DIAL_BACKOFF_MS = 5 * 60_000;
/**
 * A newly connected peer is introduced (peer exchange) to this many of our peers picked at random,
 * once per INTRODUCTION_MS: every host it connects to does the same, so hosts with room hear of
 * it. Telling every connection at every connection (as before) was 300,000 'peers' frames while 64
 * loopback hosts started, the largest share of their CPU.
 */
export const INTRODUCE_TO = 8;
export const INTRODUCTION_MS = 60_000;
/** Known, unconnected peers dialled per redial interval while there is room for neighbours. */
export const TOP_UP_DIALS = 4;
/**
 * How often a host short of neighbours in a swarm past its neighbour limit tops up (PeerDialerInit.short):
 * most hosts it knows are full, and at one round per redial interval a newcomer to 16 hosts under a
 * cap of 10 was still at 2 neighbours after a minute in 1 of 4 runs (swarm-committee).
 */
export const SHORT_TOP_UP_MS = 2_000;

export interface PeerDialerInit {
  readonly bootstrap?: readonly string[];
  readonly redialIntervalMs?: number;
  /** False for peers that must not be dialled now (banned, or no room under the cap for this purpose). */
  /**
   * `top-up`: a neighbour dial this host makes on its own, not because a peer was just named (see
   * topUp); `known`: the swarm members this host knows of (its peer store), itself excluded.
   */
  readonly mayDial: (peerId: string, purpose: 'neighbour' | 'committee' | 'top-up', pending: number, known?: number) => boolean;
  readonly onDialError?: (peerId: string, error: Error) => void;
  /** Whether this host is short of neighbours in a swarm past its neighbour limit: it tops up every SHORT_TOP_UP_MS. */
  readonly short?: () => boolean;
  /** A peer that another peer named (peer exchange), dialled or not. */
  readonly learned?: (peerId: string) => void;
  readonly now?: () => number;
  /** Debug lines for every neighbour dial and backoff (how a swarm forms: bench/scale/formation.ts). */
  readonly log?: SwarmLogger;
}

export class PeerDialer implements Startable {
  readonly #node: SwarmNode;
  readonly #init: PeerDialerInit;
  readonly #bootstrap: Array<{ peerId: PeerId; multiaddrs: Multiaddr[] }>;
  readonly #dialing = new Map<string, 'neighbour' | 'committee'>();
  /** Peers that refused or let go of our last dials: not dialled through peer exchange before `until`. */
  readonly #backoff = new Map<string, { until: number; wait: number }>();
  readonly #now: () => number;
  /** Peers this host introduced, and when: not again before INTRODUCTION_MS. */
  readonly #introduced = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #shortTimer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(node: SwarmNode, init: PeerDialerInit) {
    this.#node = node;
    this.#init = init;
    this.#now = init.now ?? Date.now;
    const byPeer = new Map<string, Multiaddr[]>();
    for (const address of init.bootstrap ?? []) {
      const { multiaddr, peerId } = parseBootstrapAddress(address);
      byPeer.set(peerId, [...(byPeer.get(peerId) ?? []), multiaddr]);
    }
    this.#bootstrap = [...byPeer].map(([peerId, multiaddrs]) => ({ peerId: peerIdFromString(peerId), multiaddrs }));
  }

  readonly #onDiscovered = (event: CustomEvent<PeerInfo>): void => {
    this.#dial(event.detail.id, event.detail.multiaddrs);
  };

  start(): void {
    this.#running = true;
    this.#node.addEventListener('peer:discovery', this.#onDiscovered);
    this.#node.services.mdns?.addEventListener('peer', this.#onDiscovered);
    this.#timer = setInterval(() => {
      this.#redialBootstrap();
      void this.topUp();
    }, this.#init.redialIntervalMs ?? DEFAULT_REDIAL_INTERVAL_MS);
    this.#timer.unref();
    if (!this.#init.short) return;
    this.#shortTimer = setInterval(() => {
      if (this.#init.short?.()) void this.topUp();
    }, Math.min(SHORT_TOP_UP_MS, this.#init.redialIntervalMs ?? DEFAULT_REDIAL_INTERVAL_MS));
    this.#shortTimer.unref();
  }

  stop(): void {
    this.#running = false;
    clearInterval(this.#timer);
    clearInterval(this.#shortTimer);
    this.#node.removeEventListener('peer:discovery', this.#onDiscovered);
    this.#node.services.mdns?.removeEventListener('peer', this.#onDiscovered);
  }

  /** Dials the bootstrap peers that are not connected now (also called by the timer). */
  redialBootstrap(): void {
    this.#redialBootstrap();
  }

  /**
   * Dials up to TOP_UP_DIALS peers from the peer store that are not connected, not dialled now and
   * not backing off, picked at random; mayDial('top-up') says whether this host needs more (under
   * a cap, in a swarm larger than its neighbour limit, only a host short of neighbours does: one
   * that knocked on full hosts every interval kept them busy with connections they let go).
   */
  async topUp(): Promise<void> {
    if (!this.#running) return;
    const now = this.#now();
    const self = this.#node.peerId;
    const all = await this.#node.peerStore.all();
    const candidates = all.filter(({ id }) => {
      const key = id.toString();
      return !id.equals(self) && !this.#dialing.has(key) && (this.#backoff.get(key)?.until ?? 0) <= now && this.#node.getConnections(id).length === 0;
    });
    for (let i = 0; i < TOP_UP_DIALS && candidates.length > 0; i++) {
      const [peer] = candidates.splice(Math.floor(Math.random() * candidates.length), 1);
      this.#dial(peer!.id, [], 'top-up', all.length - 1);
    }
  }

  /**
   * Whom to tell about a peer that just connected: up to INTRODUCE_TO of `peers` at random, or
   * nobody when this host introduced it lately.
   */
  introduce(peerId: string, peers: readonly string[]): string[] {
    const now = this.#now();
    if ((this.#introduced.get(peerId) ?? -Infinity) > now - INTRODUCTION_MS) return [];
    if (this.#introduced.size >= 10_000) this.#introduced.clear();
    this.#introduced.set(peerId, now);
    const others = peers.filter((id) => id !== peerId);
    for (let i = others.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [others[i], others[j]] = [others[j]!, others[i]!];
    }
    return others.slice(0, INTRODUCE_TO);
  }

  /** Where the given peers listen, as they told us through identify. */
  async addressesOf(peerIds: readonly string[]): Promise<PeerAddresses[]> {
    const known: PeerAddresses[] = [];
    for (const id of peerIds) {
      try {
        const peer = await this.#node.peerStore.get(peerIdFromString(id));
        const addresses = peer.addresses.map((a) => a.multiaddr.toString()).slice(0, MAX_PEER_ADDRESSES);
        if (addresses.length > 0) known.push({ peerId: id, addresses });
      } catch {
        // Not (or no longer) in the peer store: nothing to share.
      }
    }
    return known;
  }

  /** Dials peers another peer told us about, unless connected, banned, backing off, or unparseable. */
  dialLearned(peers: readonly PeerAddresses[]): void {
    const now = this.#now();
    for (const { peerId, addresses } of peers) {
      if ((this.#backoff.get(peerId)?.until ?? 0) > now) continue;
      try {
        const id = peerIdFromString(peerId);
        const multiaddrs = addresses.map((a) => multiaddr(a));
        this.#init.learned?.(peerId);
        this.#init.log?.debug({ peerId }, 'swarm: named');
        // Not dialled (no room): still kept in the peer store, so this host has heard of it (owner
        // committees are ranked among the members heard of) and can dial it as one.
        if (!this.#dial(id, multiaddrs) && this.#running && !id.equals(this.#node.peerId)) void this.#node.peerStore.merge(id, { multiaddrs }).catch(() => undefined);
      } catch {
        // A malformed entry from a peer is skipped; the protocol layer bounded its size already.
      }
    }
  }

  /** True while the dialer leaves this peer alone (it refused or dropped our last dials), for tests and metrics. */
  backingOff(peerId: string): boolean {
    return (this.#backoff.get(peerId)?.until ?? 0) > this.#now();
  }

  /** True while this dialer dials the peer as a neighbour (a connection opening now is one). */
  dialingNeighbour(peerId: string): boolean {
    return this.#dialing.get(peerId) === 'neighbour';
  }

  /** Dials owner-committee members at the addresses the peer store has for them (the DHT put them there). */
  dialKnown(peerIds: readonly string[]): void {
    for (const id of peerIds) {
      try {
        this.#dial(peerIdFromString(id), [], 'committee');
      } catch {
        // Not a peer id: nothing to dial.
      }
    }
  }

  #redialBootstrap(): void {
    for (const { peerId, multiaddrs } of this.#bootstrap) this.#dial(peerId, multiaddrs);
  }

  /** False when not dialled (not running, dialling or connected already, or no room). */
  #dial(peerId: PeerId, multiaddrs: Multiaddr[], purpose: 'neighbour' | 'committee' | 'top-up' = 'neighbour', known?: number): boolean {
    const id = peerId.toString();
    if (!this.#running || peerId.equals(this.#node.peerId) || this.#dialing.has(id)) return false;
    if (this.#node.getConnections(peerId).length > 0 || !this.#init.mayDial(id, purpose, this.#dialing.size, known)) return false;
    this.#dialing.set(id, purpose === 'committee' ? 'committee' : 'neighbour');
    this.#init.log?.debug({ peerId: id, purpose }, 'swarm: dialling');
    // The addresses go to the peer store first: libp2p dials a peer id at every address it knows.
    void this.#node.peerStore
      .merge(peerId, { multiaddrs })
      .then(() => (this.#running ? this.#node.dial(peerId) : undefined))
      .then((connection) => connection?.addEventListener('close', () => this.#closed(connection), { once: true }))
      .catch((err: Error) => {
        if (!this.#running) return;
        this.#refused(id);
        this.#init.onDialError?.(id, err);
      })
      .finally(() => this.#dialing.delete(id));
    return true;
  }

  /** A connection we dialled closed: soon after it opened (and none other left), the peer had no room for us. */
  #closed(connection: Connection): void {
    const id = connection.remotePeer.toString();
    if (this.#node.getConnections(connection.remotePeer).length > 0) return;
    // The connection's timeline is wall-clock time, whatever clock the backoff runs on.
    if ((connection.timeline.close ?? Date.now()) - connection.timeline.open < SHORT_CONNECTION_MS) this.#refused(id);
    else this.#backoff.delete(id);
  }

  #refused(id: string): void {
    const wait = Math.min(2 * (this.#backoff.get(id)?.wait ?? DIAL_BACKOFF_MS / 2), MAX_DIAL_BACKOFF_MS);
    // Bounded: a host hears of at most its swarm's members, but a hostile peer exchange could name more.
    if (this.#backoff.size >= 10_000) this.#backoff.clear();
    this.#backoff.set(id, { until: this.#now() + wait, wait });
    this.#init.log?.debug({ peerId: id, wait }, 'swarm: backing off');
  }
}
