// Which connections the swarm makes and which it keeps: the connection budget
// (connection-budget.ts), told of every connection libp2p opens and closes and of every member
// sighted; the dialer (dialer.ts), which asks the budget for room; the reaper, which closes what
// the budget lets go; and peer exchange's introductions of each new member.
import type { ConnectionGater, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { AnnounceStreams } from './announce-streams.ts';
import { COMMITTEE_TTL_MS } from './committee.ts';
import { committeeReserve, ConnectionBudget } from './connection-budget.ts';
import { PeerDialer } from './dialer.ts';
import { dialErrors, HandshakeFailures } from './handshake-failures.ts';
import type { SwarmLogger } from './logger.ts';
import type { SwarmNode } from './node.ts';
import type { PeerTable } from './peer-table.ts';
import { ANNOUNCE_PROTOCOL, MAX_PEER_ADDRESSES } from './protocol.ts';

export interface SwarmConnectionsInit {
  readonly selfId: string;
  /** max-peer-connections; undefined: no cap. */
  readonly cap: number | undefined;
  readonly committeeSize: number;
  readonly bootstrap?: readonly string[];
  readonly redialIntervalMs?: number;
  readonly table: PeerTable;
  /** The announce streams, once built: kept peers get ours opened, introductions go out on them. */
  readonly streams: () => AnnounceStreams | undefined;
  /** Counts messages sent, by type (the swarm's log at stop). */
  readonly sent: (type: string, n: number) => void;
  readonly log: SwarmLogger;
  /** Whether this host runs with a cluster key (handshake-failures.ts words its advice by it). */
  readonly keyed: boolean;
}

/** libp2p's connection gater: no connection with a peer refused (a protocol violation), and a dial's connection reaching its peer is noted (its handshake starts). */
export function swarmGater(init: { readonly refuses: (peerId: string) => boolean; readonly reached: (peerId: string) => void }): ConnectionGater {
  const refuses = (peerId: PeerId) => init.refuses(peerId.toString());
  return {
    denyDialPeer: refuses,
    denyInboundEncryptedConnection: refuses,
    denyOutboundEncryptedConnection: refuses,
    denyOutboundConnection: (peerId) => {
      init.reached(peerId.toString());
      return false;
    },
  };
}

export class SwarmConnections {
  readonly budget: ConnectionBudget;
  readonly dialer: PeerDialer;
  readonly handshakes: HandshakeFailures;
  readonly #cap: number | undefined;
  readonly #init: SwarmConnectionsInit;
  readonly #streams: () => AnnounceStreams | undefined;
  readonly #log: SwarmLogger;
  #reaper: NodeJS.Timeout | undefined;

  constructor(node: SwarmNode, init: SwarmConnectionsInit) {
    const { table, cap } = init;
    this.#cap = cap;
    this.#init = init;
    this.#streams = init.streams;
    this.#log = init.log;
    const handshakes = (this.handshakes = new HandshakeFailures({ keyed: init.keyed, log: init.log, openConnections: () => node.getConnections().length }));
    const budget = (this.budget = new ConnectionBudget({ selfId: init.selfId, cap, reserve: committeeReserve(cap, init.committeeSize), open: () => node.getConnections(), speaksWith: (peerId) => table.has(peerId) }));
    this.dialer = new PeerDialer(node, {
      bootstrap: init.bootstrap,
      redialIntervalMs: init.redialIntervalMs,
      // Only this dialer's own dials count as pending: the DHT's lookups dial too, and must not
      // hold back the neighbours.
      mayDial: (peerId, purpose, pending, known = 0) => {
        if (table.refusesConnections(peerId)) return false;
        if (purpose === 'committee') return budget.roomForTemporary(pending);
        return purpose === 'top-up' ? budget.roomForTopUp(pending, known) : budget.roomForNeighbour(pending);
      },
      learned: (peerId) => budget.named(peerId),
      short: () => budget.short(),
      log: init.log,
      onDialError: (peerId, error) => {
        // Nothing listens there: the host is gone, and no longer a candidate for committees.
        if (refusedOutright(error)) budget.departed(peerId);
        init.log.debug({ peerId, err: error.message, errName: error.name }, 'swarm: dial failed');
        // Most failed dials are no handshake failure (10,000 in a 128-host pull): no lookup for those.
        if (!handshakes.counts(peerId, error)) handshakes.dialFailed(peerId, error, []);
        else void node.peerStore
          .get(peerIdFromString(peerId))
          .then((peer) => peer.addresses.map((a) => a.multiaddr.toString()), () => [])
          .then((addresses) => handshakes.dialFailed(peerId, error, addresses));
      },
    });
    // libp2p refuses inbound connections past the cap but never prunes ones carrying our long-lived
    // announce streams; one that crossed an outbound dial of ours is closed here. Past the
    // neighbour limit a connection is temporary (connection-budget.ts).
    node.addEventListener('connection:open', ({ detail }) => {
      handshakes.connected(detail.remotePeer.toString());
      if (!budget.opened(detail, this.dialer.dialingNeighbour(detail.remotePeer.toString()))) void detail.close().catch(() => undefined);
    });
    node.addEventListener('connection:close', ({ detail }) => budget.closed(detail));
    // The swarm's size as this host knows it: while it fits under the cap, a full mesh (connection-budget.ts).
    node.addEventListener('peer:discovery', ({ detail }) => budget.sighted(detail.id.toString()));
    // A new member: tell some others where it listens (peer exchange, see dialer.ts).
    node.addEventListener('peer:identify', ({ detail }) => {
      // A crossing connection closed already (connection-budget.ts) introduces nobody new.
      if (!detail.protocols.includes(ANNOUNCE_PROTOCOL) || detail.listenAddrs.length === 0 || detail.connection.status !== 'open') return;
      const addresses = detail.listenAddrs.map(String).slice(0, MAX_PEER_ADDRESSES);
      const to = this.dialer.introduce(detail.peerId.toString(), table.peers().map((p) => p.peerId));
      init.sent('peers', this.#streams()?.sendTo({ type: 'peers', peers: [{ peerId: detail.peerId.toString(), addresses }] }, to) ?? 0);
    });
  }

  /** Once the node runs: dialling, and (under a cap) closing what the budget lets go every second. */
  start(): void {
    this.dialer.start();
    if (this.#cap === undefined) return;
    this.#reaper = setInterval(() => {
      const { close, stay } = this.budget.expired();
      for (const connection of close) {
        this.#log.debug({ peerId: connection.remotePeer.toString(), direction: connection.direction }, 'swarm: letting go');
        void connection.close().catch(() => undefined);
      }
      for (const peerId of stay) this.#streams()?.open(peerIdFromString(peerId));
    }, 1_000);
    this.#reaper.unref();
  }

  stop(): void {
    clearInterval(this.#reaper);
    this.dialer.stop();
  }

  /**
   * A blob's owner committee was found: owners are asked over a connection, so its members are
   * kept and dialled (within the cap's reserve), and those connected already that do not talk to
   * us (we are past their neighbour limit) are asked to.
   */
  reachCommittee(members: readonly string[]): void {
    const { selfId, table, sent } = this.#init;
    this.budget.keep(members, COMMITTEE_TTL_MS);
    const others = members.filter((id) => id !== selfId);
    for (const id of others) this.#streams()?.open(peerIdFromString(id));
    sent('ask', this.#streams()?.sendTo({ type: 'ask' }, others.filter((id) => !table.has(id))) ?? 0);
    this.dialer.dialKnown(others);
  }
}

/** A dial every address of which was refused (ECONNREFUSED): the host is not running, not merely full. */
export function refusedOutright(error: Error): boolean {
  const errors = dialErrors(error);
  return errors.length > 0 && errors.every((e) => (e as NodeJS.ErrnoException).code === 'ECONNREFUSED' || e.message.includes('ECONNREFUSED'));
}
