// The in-memory twin of Swarm: same SwarmApi, same announcement logic and peer table, but peers
// are MemorySwarms joined to one MemoryNetwork instead of libp2p nodes. Messages still go
// through the wire encoding and the checks a real peer's messages get, delivered asynchronously
// and in order per pair, so code tested against it meets the same behaviour as on sockets.
import { randomInt } from 'node:crypto';
import { Announcements } from './announcements.ts';
import { AnnouncingSwarm } from './announcing-swarm.ts';
import { PeerTable, type PeerTableInit } from './peer-table.ts';
import { parseMessage, ProtocolViolation, toWire, type Message } from './protocol.ts';
import type { Inventory, SwarmApi } from './types.ts';

interface Member {
  readonly peerId: string;
  readonly snapshot: () => AsyncIterable<Message>;
  readonly receive: (from: string, message: Message) => void;
  readonly gone: (from: string, reason: string) => void;
  readonly refuses: (from: string) => boolean;
}

/** A LAN where every started MemorySwarm is connected to every other. */
export class MemoryNetwork {
  readonly #members = new Map<string, Member>();
  readonly #links = new Map<string, Link>();

  attach(member: Member): void {
    if (this.#members.has(member.peerId)) throw new Error(`${member.peerId} is already on this network`);
    for (const other of this.#members.values()) {
      if (other.refuses(member.peerId) || member.refuses(other.peerId)) continue;
      this.#link(other, member);
      this.#link(member, other);
    }
    this.#members.set(member.peerId, member);
  }

  /** The member leaves: every other member forgets it at once, as when a TCP connection closes. */
  detach(peerId: string, reason = 'disconnected'): void {
    this.#members.delete(peerId);
    for (const [key, link] of this.#links) {
      if (link.from.peerId !== peerId && link.to.peerId !== peerId) continue;
      link.closed = true;
      this.#links.delete(key);
      if (link.from.peerId === peerId) link.to.gone(peerId, reason);
      else link.from.gone(link.to.peerId, reason);
    }
  }

  broadcast(from: string, message: Message): void {
    for (const link of this.#links.values()) if (link.from.peerId === from) link.push(message);
  }

  send(from: string, to: string, message: Message): void {
    this.#links.get(`${from}>${to}`)?.push(message);
  }

  #link(from: Member, to: Member): void {
    const link = new Link(from, to, (reason) => this.#cut(from.peerId, to.peerId, reason));
    this.#links.set(`${from.peerId}>${to.peerId}`, link);
    link.push(from.snapshot());
  }

  /** `to` caught `from` breaking the protocol: the pair's connection closes, both ways, as hangUp does. */
  #cut(from: string, to: string, reason: string): void {
    for (const [key, why] of [[`${from}>${to}`, reason], [`${to}>${from}`, 'disconnected by peer']] as const) {
      const link = this.#links.get(key);
      if (link === undefined) continue;
      link.closed = true;
      this.#links.delete(key);
      link.to.gone(link.from.peerId, why);
    }
  }
}

class Link {
  closed = false;
  readonly #queue: Array<Message | AsyncIterable<Message>> = [];
  #pumping = false;

  readonly from: Member;
  readonly to: Member;
  readonly onViolation: (reason: string) => void;

  constructor(from: Member, to: Member, onViolation: (reason: string) => void) {
    this.from = from;
    this.to = to;
    this.onViolation = onViolation;
  }

  push(item: Message | AsyncIterable<Message>): void {
    if (this.closed) return;
    this.#queue.push(item);
    if (!this.#pumping) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      await new Promise((resolve) => setImmediate(resolve));
      let item: Message | AsyncIterable<Message> | undefined;
      while (!this.closed && (item = this.#queue.shift()) !== undefined) {
        if (Symbol.asyncIterator in item) {
          for await (const message of item) this.#deliver(message);
        } else {
          this.#deliver(item);
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  #deliver(message: Message): void {
    if (this.closed) return;
    try {
      const checked = parseMessage(toWire(message));
      if (checked !== undefined) this.to.receive(this.from.peerId, checked);
    } catch (err) {
      if (!(err instanceof ProtocolViolation)) throw err;
      this.onViolation(`protocol violation: ${err.message}`);
    }
  }
}

export interface MemorySwarmInit {
  readonly network: MemoryNetwork;
  readonly inventory: Inventory;
  /** Default: a random id shaped like a libp2p Ed25519 peer id. */
  readonly peerId?: string;
  /** What peers get as this host's data-plane URL. */
  readonly dataUrl?: string;
  /** Piece size told to peers (see SwarmInit.pieceSize). */
  readonly pieceSize?: number;
  readonly now?: () => number;
  readonly maxEntriesPerPeer?: PeerTableInit['maxEntriesPerPeer'];
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

export class MemorySwarm extends AnnouncingSwarm implements SwarmApi {
  readonly peerId: string;
  readonly #network: MemoryNetwork;
  protected readonly table: PeerTable;
  protected readonly announcements: Announcements;
  #started = false;
  // Shared with the announcements, which read it at every hello: start() may fill in the URL.
  readonly #dataPlane: { url?: string; pieceSize?: number };

  constructor(init: MemorySwarmInit) {
    super();
    this.peerId = init.peerId ?? `12D3KooW${Array.from({ length: 44 }, () => BASE58[randomInt(BASE58.length)]).join('')}`;
    this.#network = init.network;
    this.table = new PeerTable({ now: init.now, maxEntriesPerPeer: init.maxEntriesPerPeer });
    this.#dataPlane = { url: init.dataUrl, pieceSize: init.pieceSize };
    this.announcements = new Announcements({
      selfId: this.peerId,
      table: this.table,
      inventory: init.inventory,
      dataPlane: this.#dataPlane,
      emit: (type, detail) => this.emit(type, detail),
      now: init.now,
    });
  }

  get multiaddrs(): string[] {
    return [`/memory/${this.peerId}`];
  }

  /** `dataPlane`: the data plane's URL, when it was bound after this swarm was built; overrides `dataUrl` of the init. */
  async start(dataPlane?: { readonly url: string }): Promise<void> {
    if (this.#started) return;
    if (dataPlane !== undefined) this.#dataPlane.url = dataPlane.url;
    this.#started = true;
    this.#network.attach({
      peerId: this.peerId,
      snapshot: () => this.announcements.snapshot(),
      receive: (from, message) => this.announcements.receive(from, message, { host: undefined, addresses: [`/memory/${from}`] }),
      gone: (from, reason) => {
        if (reason.startsWith('protocol violation')) this.emit('peer:penalised', this.table.penalise(from, reason, 5 * 60_000, true));
        this.announcements.leave(from, reason);
      },
      refuses: (from) => this.table.refusesConnections(from),
    });
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#network.detach(this.peerId);
    for (const peer of this.table.peers()) this.announcements.leave(peer.peerId, 'swarm stopped');
  }

  protected broadcast(message: Message | undefined): void {
    if (message !== undefined && this.#started) this.#network.broadcast(this.peerId, message);
  }

  protected sendTo(peerId: string, message: Message): void {
    if (this.#started) this.#network.send(this.peerId, peerId, message);
  }
}
