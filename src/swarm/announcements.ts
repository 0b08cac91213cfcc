// The announce protocol's logic, apart from any transport: what this host says about itself
// (local announcements and the snapshot sent on connect) and what it believes of what peers say.
// The libp2p Swarm and the MemorySwarm both drive this, so they behave alike by construction.
import { parseDigest, tryParseDigest, isValidTag } from '../oci/index.ts';
import type { PeerTable } from './peer-table.ts';
import { piecesProblem } from './pieces.ts';
import { MAX_BATCH, MAX_LOAD, MAX_PEERS_BATCH, MAX_TAG_BATCH, PROTOCOL_VERSION, ProtocolViolation, type Message, type PeerAddresses } from './protocol.ts';
import type { Inventory, InventoryEntry, PieceSet, SwarmEvents, TagRecord } from './types.ts';
import { formatHostPort } from '../lib/host-port.ts';

/** A tag stamped further ahead of its sender's clock than this is dropped, so none can be pinned forever. */
export const MAX_TAG_CLOCK_AHEAD_MS = 60_000;

export type Emit = <K extends keyof SwarmEvents & string>(type: K, detail: SwarmEvents[K]) => void;

/** What the transport knows of the sender, beyond its verified peer id. */
export interface Remote {
  /** IP (or name) the peer's connection comes from: its data URL when it gives only a port. */
  readonly host: string | undefined;
  readonly addresses: readonly string[];
}

export interface AnnouncementsInit {
  readonly selfId: string;
  readonly table: PeerTable;
  readonly inventory: Inventory;
  /** How peers reach this host's data plane: a full URL (advertise address), a port, or neither. */
  /** `tls`: with a cluster key every member's data plane speaks TLS, so URLs built from a peer's port are https. */
  readonly dataPlane: { readonly url?: string; readonly port?: number; readonly tls?: boolean; readonly pieceSize?: number };
  readonly emit: Emit;
  readonly now?: () => number;
  /** Peer exchange, where the transport has addresses to share (libp2p; the memory twin is a full mesh). */
  readonly peerExchange?: {
    /** Peers this host is connected to, sent in every snapshot. */
    readonly known: () => Promise<PeerAddresses[]>;
    readonly learned: (from: string, peers: readonly PeerAddresses[]) => void;
  };
  /** A peer started sending us its progress on a blob as a neighbour (PeerTable.markTeller): tell it back. */
  readonly onTeller?: (peerId: string, digest: string) => void;
  /** Told about inventory entries that are skipped (a caller bug, not a peer's). */
  readonly onBadInventoryEntry?: (entry: unknown) => void;
}

export class Announcements {
  readonly #init: AnnouncementsInit;
  readonly #now: () => number;
  readonly #wants = new Set<string>();
  readonly #progress = new Map<string, { size: number; pieces: PieceSet }>();
  #load = 0;

  constructor(init: AnnouncementsInit) {
    this.#init = init;
    this.#now = init.now ?? Date.now;
  }

  have(digest: string, size: number): Message {
    const canonical = checkedDigest(digest);
    this.#progress.delete(canonical);
    return { type: 'have', blobs: [{ digest: canonical, size: checkedSize(size) }] };
  }

  withdrawn(digest: string): Message {
    const canonical = checkedDigest(digest);
    this.#progress.delete(canonical);
    return { type: 'withdrawn', digests: [canonical] };
  }

  progress(digest: string, size: number, pieces: PieceSet): Message {
    const canonical = checkedDigest(digest);
    const problem = piecesProblem(checkedSize(size), pieces);
    if (problem !== undefined) throw new RangeError(`announceProgress: ${problem}`);
    // Copied: the caller keeps mutating its bitfield as pieces arrive.
    const copy = { pieceSize: pieces.pieceSize, bitfield: Uint8Array.from(pieces.bitfield), ...(pieces.done !== undefined ? { done: Uint8Array.from(pieces.done) } : {}) };
    this.#progress.set(canonical, { size, pieces: copy });
    return { type: 'progress', digest: canonical, size, pieces: copy, load: this.#load };
  }

  /** The progress message this host last made for the blob (undefined: none in flight). */
  progressOf(digest: string): Message | undefined {
    const progress = this.#progress.get(digest);
    return progress === undefined ? undefined : { type: 'progress', digest, size: progress.size, pieces: progress.pieces, load: this.#load };
  }

  /** This host's load changed: the ping that tells peers (undefined when it did not change). */
  load(load: number): Message | undefined {
    const checked = Math.min(checkedSize(load), MAX_LOAD);
    if (checked === this.#load) return undefined;
    this.#load = checked;
    return { type: 'ping', time: this.#now(), load: checked };
  }

  /** The message to send, or undefined when nothing changed. */
  want(digest: string, wanted: boolean): Message | undefined {
    const canonical = checkedDigest(digest);
    if (this.#wants.has(canonical) === wanted) return undefined;
    if (wanted) this.#wants.add(canonical);
    else this.#wants.delete(canonical);
    return { type: wanted ? 'want' : 'unwant', digests: [canonical] };
  }

  tag(repository: string, tag: string, digest: string, timestamp: number, flags: { readonly deleted?: boolean; readonly pushed?: boolean } = {}): { record: TagRecord; message: Message } {
    if (typeof repository !== 'string' || repository === '' || repository.length > 255) throw new RangeError(`invalid repository ${repository}`);
    if (!isValidTag(tag)) throw new RangeError(`invalid tag ${tag}`);
    const record: TagRecord = { repository, tag, digest: checkedDigest(digest), timestamp: checkedSize(timestamp), origin: this.#init.selfId, ...(flags.deleted === true ? { deleted: true } : flags.pushed === true ? { pushed: true } : {}) };
    this.#init.table.offerTag(record);
    return { record, message: { type: 'tag', tags: [record] } };
  }

  wanters(digest: string): string[] {
    const canonical = checkedDigest(digest);
    const peers = this.#init.table.wanters(canonical);
    if (this.#wants.has(canonical)) peers.push(this.#init.selfId);
    return peers.sort();
  }

  /**
   * Everything a peer needs on connect: hello (then `ask` when we dialled it as an owner, see protocol.ts), the peers we know, complete blobs, partial ones, wants, every tag known
   * (own and learned, so tags outlive the host that set them), then `synced`. Generated lazily: a
   * change made meanwhile is also sent as its own message after the snapshot, and messages are
   * idempotent assignments, so the peer ends up right either way.
   */
  async *snapshot(options: { readonly asks?: boolean } = {}): AsyncGenerator<Message> {
    const { url, port, pieceSize } = this.#init.dataPlane;
    yield { type: 'hello', version: PROTOCOL_VERSION, time: this.#now(), dataUrl: url, dataPort: port, pieceSize };
    if (options.asks === true) yield { type: 'ask' };
    const known = (await this.#init.peerExchange?.known()) ?? [];
    yield* batches(known, MAX_PEERS_BATCH, (peers) => ({ type: 'peers', peers }));
    let blobs: InventoryEntry[] = [];
    for await (const entry of this.#init.inventory()) {
      const digest = tryParseDigest(entry?.digest)?.value;
      if (digest === undefined || !Number.isSafeInteger(entry.size) || entry.size < 0) {
        this.#init.onBadInventoryEntry?.(entry);
        continue;
      }
      blobs.push({ digest, size: entry.size });
      if (blobs.length === MAX_BATCH) yield { type: 'have', blobs: blobs.splice(0) };
    }
    if (blobs.length > 0) yield { type: 'have', blobs };
    for (const [digest, { size, pieces }] of [...this.#progress]) yield { type: 'progress', digest, size, pieces };
    yield* batches([...this.#wants], MAX_BATCH, (digests) => ({ type: 'want', digests }));
    yield* batches([...this.#init.table.tags()], MAX_TAG_BATCH, (tags) => ({ type: 'tag', tags }));
    yield { type: 'synced' };
  }

  /** Applies a checked message from a peer; throws ProtocolViolation for one that breaks the rules. */
  receive(peerId: string, message: Message, remote: Remote): void {
    const { table, emit } = this.#init;
    if (message.type === 'hello') {
      // A second hello starts the peer over; listeners see it leave first, so joins and leaves pair up.
      this.leave(peerId, 'announce stream reopened');
      const url = message.dataUrl ?? (message.dataPort !== undefined && remote.host !== undefined ? dataUrl(remote.host, message.dataPort, this.#init.dataPlane.tls) : undefined);
      emit('peer:joined', table.join(peerId, { url, addresses: remote.addresses, clockSkewMs: message.time - this.#now(), pieceSize: message.pieceSize }));
      return;
    }
    if (!table.has(peerId)) throw new ProtocolViolation(`${message.type} before hello`);
    table.touch(peerId);
    switch (message.type) {
      case 'have':
        if (!table.addBlobs(peerId, message.blobs)) throw new ProtocolViolation('too many blobs announced');
        for (const { digest, size } of message.blobs) emit('have', { peerId, digest, size });
        return;
      case 'withdrawn':
        table.removeBlobs(peerId, message.digests);
        for (const digest of message.digests) emit('withdrawn', { peerId, digest });
        return;
      case 'progress':
        if (!table.setProgress(peerId, message.digest, message.size, message.pieces)) throw new ProtocolViolation('too many blobs announced');
        if (message.load !== undefined) table.setLoad(peerId, message.load);
        if (table.markTeller(peerId, message.digest)) this.#init.onTeller?.(peerId, message.digest);
        emit('progress', { peerId, digest: message.digest, size: message.size, pieces: message.pieces });
        return;
      case 'want':
      case 'unwant': {
        const wanted = message.type === 'want';
        if (!table.setWants(peerId, message.digests, wanted)) throw new ProtocolViolation('too many wants announced');
        for (const digest of message.digests) emit(wanted ? 'want' : 'want:cancelled', { peerId, digest });
        return;
      }
      case 'tag': {
        const latest = this.#now() + table.clockSkewMs(peerId) + MAX_TAG_CLOCK_AHEAD_MS;
        for (const record of message.tags) {
          if (record.timestamp <= latest && table.offerTag(record)) emit('tag', { ...record, peerId });
        }
        return;
      }
      case 'peers':
        this.#init.peerExchange?.learned(peerId, message.peers);
        return;
      case 'synced':
        table.markSynced(peerId);
        emit('peer:synced', { peerId });
        return;
      case 'taken':
        emit('piece:taken', { peerId, digest: message.digest, piece: message.piece });
        return;
      case 'ask':
        // The transport answers it (swarm.ts): a matter of connections, not of what the peer holds.
        return;
      case 'ping':
        table.touch(peerId, message.time - this.#now());
        if (message.load !== undefined) table.setLoad(peerId, message.load);
        return;
    }
  }

  /** The peer's stream or connection ended: it is no longer a source, at once. */
  leave(peerId: string, reason: string): void {
    if (this.#init.table.leave(peerId)) this.#init.emit('peer:left', { peerId, reason });
  }
}

function* batches<T>(items: T[], size: number, make: (batch: T[]) => Message): Generator<Message> {
  for (let i = 0; i < items.length; i += size) yield make(items.slice(i, i + size));
}

function checkedDigest(digest: string): string {
  return parseDigest(digest).value;
}

function checkedSize(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`expected a non-negative integer, got ${size}`);
  return size;
}

export function dataUrl(host: string, port: number, tls = false): string {
  return `${tls ? 'https' : 'http'}://${formatHostPort(host, port)}`;
}
