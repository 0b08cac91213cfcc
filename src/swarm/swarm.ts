// The swarm service: a libp2p node, announce streams, dialer and peer table behind the SwarmApi. It
// never reads the disk: what this host holds comes from `inventory` at connect, then announce* calls.
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Connection, PrivateKey, Startable } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { Announcements, dataUrl } from './announcements.ts';
import { AnnounceStreams } from './announce-streams.ts';
import type { ClusterKey } from './cluster-key.ts';
import { closestPeerIds, COMMITTEE_TTL_MS, OwnerCommittees } from './committee.ts';
import { SwarmConnections, swarmGater } from './connections.ts';
import { LeaveGrace } from './leave-grace.ts';
import { DEFAULT_BLOB_NEIGHBOURS } from './neighbours.ts';
import { NeighbourRouting } from './neighbour-routing.ts';
import { AnnouncingSwarm } from './announcing-swarm.ts';
import { loadOrCreatePeerKey } from './identity.ts';
import { quietLogger, type SwarmLogger } from './logger.ts';
import { createSwarmNode, type MdnsInit, type SwarmNode } from './node.ts';
import { PeerTable } from './peer-table.ts';
import type { Message } from './protocol.ts';
import { blobKey, type BlobKey, type Inventory, type PeerSummary, type SwarmApi, type UnjoinablePeer } from './types.ts';

/** Heartbeats keep lastSeen and the clock-skew reading fresh, and the stream under yamux's 120 s idle reset. */
export const DEFAULT_HEARTBEAT_MS = 15_000;
/** A peer silent this long (four missed heartbeats) is dropped even if TCP has not noticed. */
export const DEFAULT_PEER_EXPIRY_MS = 60_000;
/** How long a peer that broke the protocol is refused. */
export const DEFAULT_VIOLATION_BAN_MS = 5 * 60_000;

export interface SwarmInit {
  /** The node's identity; otherwise loaded from (or created in) `<dataDir>/shoal/peer-key`, or else ephemeral. */
  readonly privateKey?: PrivateKey;
  readonly dataDir?: string;
  readonly listenPort?: number;
  readonly listenAddresses?: readonly string[];
  /** The IP other hosts reach this one at: announced to libp2p and used in the data URL. */
  readonly advertiseAddress?: string;
  /** Port of this host's HTTP data plane (or given to start()); without it peers learn of no URL and fetch nothing from us. */
  readonly dataPort?: number;
  /** Piece size of this host's fetches, told to peers so they agree on who owns which piece. */
  readonly pieceSize?: number;
  readonly bootstrap?: readonly string[];
  readonly mdns?: false | MdnsInit;
  readonly clusterKey?: ClusterKey;
  /** Connections kept at most (max-peer-connections): no dials past it, inbound ones refused; undefined: libp2p's default. */
  readonly maxConnections?: number;
  /** Inbound connections accepted per second from one IP (node.ts); for hosts sharing an address. */
  readonly inboundPerAddressPerSecond?: number;
  /** Hosts in a blob's owner committee, found with the DHT (owner-committee); 0 turns the DHT off. */
  readonly ownerCommittee?: number;
  /** Peers told of this host's progress on one blob, past which only (that many) wanters of it are. */
  readonly blobNeighbours?: number;
  readonly heartbeatMs?: number;
  readonly peerExpiryMs?: number;
  readonly violationBanMs?: number;
  readonly maxEntriesPerPeer?: number;
  readonly redialIntervalMs?: number;
  readonly logger?: SwarmLogger;
}

export interface SwarmComponents {
  readonly inventory: Inventory;
}

export async function createSwarm(init: SwarmInit, components: SwarmComponents): Promise<Swarm> {
  const privateKey = init.privateKey ?? (init.dataDir !== undefined ? await loadOrCreatePeerKey(init.dataDir) : await generateKeyPair('Ed25519'));
  return new Swarm({ ...init, privateKey }, components);
}

function countMessage(counts: Record<string, number>, type: string, n: number): void {
  counts[type] = (counts[type] ?? 0) + n;
}

export class Swarm extends AnnouncingSwarm implements SwarmApi, Startable {
  readonly peerId: string;
  readonly #init: SwarmInit & { readonly privateKey: PrivateKey };
  readonly #log: SwarmLogger;
  protected readonly table: PeerTable;
  protected readonly announcements: Announcements;
  #node: SwarmNode | undefined;
  #streams: AnnounceStreams | undefined;
  #connections: SwarmConnections | undefined;
  #leaveGrace: LeaveGrace | undefined;
  #committees: OwnerCommittees | undefined;
  readonly #routing: NeighbourRouting;
  #heartbeat: NodeJS.Timeout | undefined;
  /** Announce messages by type, sent (once per receiving peer) and received, for the log at stop. */
  readonly #counts = { sent: {} as Record<string, number>, received: {} as Record<string, number> };
  // Shared with the announcements, which read it at every hello: start() may fill in the port.
  readonly #dataPlane: { url?: string; port?: number; tls: boolean; pieceSize?: number };

  constructor(init: SwarmInit & { readonly privateKey: PrivateKey }, components: SwarmComponents) {
    super();
    this.#init = init;
    this.#log = init.logger ?? quietLogger;
    this.peerId = peerIdFromPrivateKey(init.privateKey).toString();
    this.table = new PeerTable({ maxEntriesPerPeer: init.maxEntriesPerPeer });
    const { advertiseAddress, dataPort, pieceSize } = init;
    const tls = init.clusterKey !== undefined;
    this.#dataPlane = { url: advertiseAddress !== undefined && dataPort !== undefined ? dataUrl(advertiseAddress, dataPort, tls) : undefined, port: dataPort, tls, pieceSize };
    this.announcements = new Announcements({
      selfId: this.peerId,
      table: this.table,
      inventory: components.inventory,
      dataPlane: this.#dataPlane,
      emit: (type, detail) => this.emit(type, detail),
      peerExchange: {
        known: async () => (await this.#connections?.dialer.addressesOf(this.table.peers().map((p) => p.peerId))) ?? [],
        learned: (_from, peers) => this.#connections?.dialer.dialLearned(peers),
      },
      onTeller: (peerId, digest) => this.#routing.onTeller(peerId, digest),
      onBadInventoryEntry: (entry) => this.#log.warn({ entry }, 'swarm: inventory entry skipped (not a digest and size)'),
    });
    this.#routing = new NeighbourRouting({
      selfId: this.peerId,
      table: this.table,
      limit: init.blobNeighbours ?? DEFAULT_BLOB_NEIGHBOURS,
      progressOf: (digest) => this.announcements.progressOf(digest),
      sendTo: (message, to) => countMessage(this.#counts.sent, message.type, this.#streams?.sendTo(message, to) ?? 0),
      broadcast: (message) => this.broadcast(message),
    });
    // A peer that starts wanting a blob hears our progress on it (sent only to wanters before).
    this.on('want', ({ peerId, digest }) => this.#routing.catchUp(peerId, digest));
  }

  /** The libp2p node while started: other parts' protocols (preheat-protocol.ts) run on it. */
  get node(): SwarmNode | undefined {
    return this.#node;
  }

  /** libp2p connections open now (several to one peer count apart), as the cap counts them. */
  get connectionCount(): number {
    return this.#node?.getConnections().length ?? 0;
  }

  get multiaddrs(): string[] {
    return this.#node?.getMultiaddrs().map(String) ?? [];
  }

  /**
   * `dataPlane`: the data plane's port, when it was bound after this swarm was built (the daemon
   * constructs every part, listens, then starts); it overrides `dataPort` of the init.
   */
  async start(dataPlane?: { readonly port: number }): Promise<void> {
    if (this.#node !== undefined) return;
    const init = this.#init;
    if (dataPlane !== undefined) {
      this.#dataPlane.port = dataPlane.port;
      this.#dataPlane.url = init.advertiseAddress !== undefined ? dataUrl(init.advertiseAddress, dataPlane.port, this.#dataPlane.tls) : undefined;
    }
    const committeeSize = init.ownerCommittee ?? 0;
    const node = await createSwarmNode({
      privateKey: init.privateKey,
      listenPort: init.listenPort ?? 0,
      listenAddresses: init.listenAddresses,
      announceAddresses: init.advertiseAddress === undefined ? undefined : [init.advertiseAddress],
      bootstrap: init.bootstrap,
      mdns: init.mdns,
      clusterKey: init.clusterKey,
      maxConnections: init.maxConnections,
      inboundPerAddressPerSecond: init.inboundPerAddressPerSecond,
      dht: committeeSize > 0,
      connectionGater: swarmGater({ refuses: (peerId) => this.table.refusesConnections(peerId), reached: (peerId) => this.#connections?.handshakes.reached(peerId) }),
    });
    this.#node = node;
    const connections = new SwarmConnections(node, {
      selfId: this.peerId, cap: init.maxConnections, committeeSize, bootstrap: init.bootstrap, redialIntervalMs: init.redialIntervalMs, table: this.table, keyed: init.clusterKey !== undefined,
      streams: () => this.#streams, sent: (type, n) => countMessage(this.#counts.sent, type, n), log: this.#log,
    });
    const { budget } = connections;
    this.#connections = connections;
    const grace = (this.#leaveGrace = new LeaveGrace({ leave: (peerId, reason) => this.announcements.leave(peerId, reason), connected: (peerId) => node.getConnections(peerIdFromString(peerId)).length > 0 }));
    this.#streams = new AnnounceStreams(node, {
      snapshot: (peerId) => this.announcements.snapshot({ asks: budget.asking(peerId) }),
      onMessage: (peerId, message, connection) => {
        countMessage(this.#counts.received, message.type, 1);
        budget.heard(peerId, message.type);
        // A host that dialled us as an owner hears our hello back, though we are past our neighbour limit.
        if (message.type === 'ask' && budget.answer(peerId, COMMITTEE_TTL_MS)) this.#streams?.open(connection.remotePeer);
        if (message.type === 'hello') grace.settled(peerId);
        this.announcements.receive(peerId, message, this.#remote(connection));
      },
      onInboundEnded: (peerId, reason) => grace.streamEnded(peerId, reason),
      onViolation: (peerId, reason) => this.#onViolation(peerId, reason),
      refuses: (peerId) => this.table.refusesConnections(peerId),
      knows: (peerId) => this.table.has(peerId),
      passing: (peerId) => budget.passing(peerId),
      // A snapshot that cannot be built is this host's fault (the inventory callback); the rest is network weather.
      onError: (peerId, what, error) => (what.includes('snapshot') ? this.#log.warn : this.#log.debug).call(this.#log, { peerId, err: error.message }, `swarm: failed ${what}`),
    });
    const dht = node.services.dht;
    if (dht !== undefined) {
      this.#committees = new OwnerCommittees({
        selfId: this.peerId,
        size: committeeSize,
        lookup: (key, signal) => closestPeerIds(dht, key, committeeSize, signal),
        connected: () => this.table.peers().map((p) => p.peerId),
        known: () => budget.known,
        heardOf: () => budget.heardOf(),
        found: (_digest, members) => connections.reachCommittee(members),
      });
    }
    node.addEventListener('peer:disconnect', ({ detail }) => grace.disconnected(detail.toString()));
    try {
      await this.#streams.start();
      await node.start();
    } catch (err) {
      // E.g. the port is taken: leave nothing half-started, so start() can be tried again.
      await Promise.resolve(node.stop()).catch(() => undefined);
      this.#node = this.#streams = this.#connections = undefined;
      throw err;
    }
    connections.start();
    this.#heartbeat = setInterval(() => this.#tick(), init.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.#heartbeat.unref();
    this.#log.info({ peerId: this.peerId, multiaddrs: this.multiaddrs }, 'swarm: started');
  }

  async stop(): Promise<void> {
    const node = this.#node;
    if (node === undefined) return;
    clearInterval(this.#heartbeat);
    this.#committees?.stop();
    this.#connections?.stop();
    this.#leaveGrace?.stop();
    await this.#streams?.stop();
    await node.stop();
    for (const peer of this.table.peers()) this.announcements.leave(peer.peerId, 'swarm stopped');
    this.#node = this.#streams = this.#connections = this.#committees = this.#leaveGrace = undefined;
    this.#log.info({ messages: this.#counts }, 'swarm: stopped');
  }

  override unjoinable(): UnjoinablePeer[] {
    return this.#connections?.handshakes.failing() ?? [];
  }

  override peers(): PeerSummary[] {
    // One pass over the open connections: the fetch engine asks at every scheduling round, and
    // parsing each peer id back (peerIdFromString) cost a twentieth of a fan-out's daemon CPU.
    const addresses = new Map<string, string[]>();
    for (const connection of this.#node?.getConnections() ?? []) {
      const id = connection.remotePeer.toString();
      addresses.set(id, [...(addresses.get(id) ?? []), connection.remoteAddr.toString()]);
    }
    return this.table.peers().map((peer) => {
      const open = addresses.get(peer.peerId);
      return open === undefined ? peer : { ...peer, addresses: open };
    });
  }

  /**
   * The hosts that own the blob's pieces: undefined when every member does (a swarm this host
   * sees whole, or committees off), empty while the DHT lookup runs. See committee.ts.
   */
  ownerCommittee(digest: BlobKey): readonly string[] | undefined {
    return this.#committees?.committee(blobKey(digest));
  }

  protected broadcast(message: Message | undefined): void {
    if (message === undefined || this.#streams === undefined) return;
    countMessage(this.#counts.sent, message.type, this.#streams.broadcast(message));
  }

  protected sendTo(peerId: string, message: Message): void {
    countMessage(this.#counts.sent, message.type, this.#streams?.sendTo(message, [peerId]) ?? 0);
  }

  /** Progress goes to the blob's neighbours only (neighbour-routing.ts). */
  protected override tellAbout(digest: string, message: Message): void {
    if (this.#streams !== undefined) this.#routing.tellAbout(digest, message);
  }

  protected override tellLoad(message: Message | undefined): void {
    if (message !== undefined && this.#streams !== undefined) this.#routing.tellLoad(message);
  }

  #remote(connection: Connection): { host: string | undefined; addresses: string[] } {
    const host = connection.remoteAddr.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6' || c.name === 'dns')?.value;
    return { host, addresses: [connection.remoteAddr.toString()] };
  }

  #onViolation(peerId: string, reason: string): void {
    const penalty = this.table.penalise(peerId, `protocol violation: ${reason}`, this.#init.violationBanMs ?? DEFAULT_VIOLATION_BAN_MS, true);
    this.#log.warn({ peerId, reason }, 'swarm: peer broke the announce protocol; disconnected and banned');
    this.emit('peer:penalised', penalty);
    this.announcements.leave(peerId, penalty.reason);
    void this.#node?.hangUp(peerIdFromString(peerId)).catch(() => undefined);
  }

  #tick(): void {
    // Only to peers told nothing else for half an interval (so none goes 1.5 intervals unheard):
    // progress and load reports flow anyway during a pull, and a ping to every connection every
    // interval made a fifth of the frames a host read per blob at 64 hosts.
    const quietMs = (this.#init.heartbeatMs ?? DEFAULT_HEARTBEAT_MS) / 2;
    countMessage(this.#counts.sent, 'ping', this.#streams?.heartbeat({ type: 'ping', time: Date.now() }, quietMs) ?? 0);
    for (const peerId of this.table.silentPeers(this.#init.peerExpiryMs ?? DEFAULT_PEER_EXPIRY_MS)) {
      this.announcements.leave(peerId, 'silent for too long');
      void this.#node?.hangUp(peerIdFromString(peerId)).catch(() => undefined);
    }
  }
}
