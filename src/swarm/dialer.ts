// Keeps the swarm connected. libp2p 3 no longer dials discovered peers by itself, and
// @libp2p/bootstrap dials its list once, so: dial every peer mDNS or libp2p reports (each mDNS
// sighting, not only the first, so a host that restarts is back within one query interval), and
// re-dial bootstrap peers that are not connected every `redialIntervalMs`. Peers also tell each
// other whom they are connected to (peer exchange), so hosts that bootstrap from one seed host
// across subnets still form a full mesh: announcements are not relayed, every pair talks directly.
import type { PeerId, PeerInfo, Startable } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { parseBootstrapAddress } from '../lib/bootstrap-address.ts';
import type { SwarmNode } from './node.ts';
import { MAX_PEER_ADDRESSES, type PeerAddresses } from './protocol.ts';

export const DEFAULT_REDIAL_INTERVAL_MS = 10_000;

export interface PeerDialerInit {
  readonly bootstrap?: readonly string[];
  readonly redialIntervalMs?: number;
  /** False for peers that must not be dialled now (banned, or no room under the cap for this purpose). */
  readonly mayDial: (peerId: string, purpose: 'neighbour' | 'committee', pending: number) => boolean;
  readonly onDialError?: (peerId: string, error: Error) => void;
}

export class PeerDialer implements Startable {
  readonly #node: SwarmNode;
  readonly #init: PeerDialerInit;
  readonly #bootstrap: Array<{ peerId: PeerId; multiaddrs: Multiaddr[] }>;
  readonly #dialing = new Map<string, 'neighbour' | 'committee'>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(node: SwarmNode, init: PeerDialerInit) {
    this.#node = node;
    this.#init = init;
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
    if (this.#bootstrap.length > 0) {
      this.#timer = setInterval(() => this.#redialBootstrap(), this.#init.redialIntervalMs ?? DEFAULT_REDIAL_INTERVAL_MS);
      this.#timer.unref();
    }
  }

  stop(): void {
    this.#running = false;
    clearInterval(this.#timer);
    this.#node.removeEventListener('peer:discovery', this.#onDiscovered);
    this.#node.services.mdns?.removeEventListener('peer', this.#onDiscovered);
  }

  /** Dials the bootstrap peers that are not connected now (also called by the timer). */
  redialBootstrap(): void {
    this.#redialBootstrap();
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

  /** Dials peers another peer told us about, unless connected, banned, or unparseable. */
  dialLearned(peers: readonly PeerAddresses[]): void {
    for (const { peerId, addresses } of peers) {
      try {
        this.#dial(peerIdFromString(peerId), addresses.map((a) => multiaddr(a)));
      } catch {
        // A malformed entry from a peer is skipped; the protocol layer bounded its size already.
      }
    }
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

  #dial(peerId: PeerId, multiaddrs: Multiaddr[], purpose: 'neighbour' | 'committee' = 'neighbour'): void {
    const id = peerId.toString();
    if (!this.#running || peerId.equals(this.#node.peerId) || this.#dialing.has(id)) return;
    if (this.#node.getConnections(peerId).length > 0 || !this.#init.mayDial(id, purpose, this.#dialing.size)) return;
    this.#dialing.set(id, purpose);
    // The addresses go to the peer store first: libp2p dials a peer id at every address it knows.
    void this.#node.peerStore
      .merge(peerId, { multiaddrs })
      .then(() => (this.#running ? this.#node.dial(peerId) : undefined))
      .catch((err: Error) => {
        if (this.#running) this.#init.onDialError?.(id, err);
      })
      .finally(() => this.#dialing.delete(id));
  }
}
