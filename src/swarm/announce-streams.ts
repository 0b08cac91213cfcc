// The announce protocol on libp2p streams. Each node opens one long-lived stream to each peer and
// only writes to it; it reads the stream the peer opened. Why long-lived rather than a stream per
// message: an announcement is then one frame on an open yamux stream (no stream open, no
// multistream-select round trip), and a peer's messages arrive in the order they were sent — a
// `have` followed by `withdrawn` on separate streams could arrive the other way round.
import type { Connection, PeerId, Startable, Stream } from '@libp2p/interface';
import * as lp from 'it-length-prefixed';
import type { SwarmNode } from './node.ts';
import { ANNOUNCE_PROTOCOL, encodeFrame, MAX_MESSAGE_BYTES, parseMessage, ProtocolViolation, type Message } from './protocol.ts';

/** A peer that reads slower than we announce gets this far behind before its stream is reset. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;
const REOPEN_DELAY_MS = 1_000;
/** An outbound stream that dies this young, three times in a row, means the connection is bad. */
const SHORT_LIVED_MS = 5_000;
const MAX_SHORT_LIVED = 3;
const OPEN_TIMEOUT_MS = 10_000;
/** it-length-prefixed's errors for a frame that is too long or whose length is garbage. */
const FRAMING_VIOLATIONS = new Set(['InvalidDataLengthError', 'InvalidDataLengthLengthError', 'InvalidMessageLengthError']);

export interface AnnounceStreamsInit {
  /** What a peer hears first on our stream to it. */
  readonly snapshot: (peerId: string) => AsyncIterable<Message>;
  /** A checked message from a peer; may throw ProtocolViolation. */
  readonly onMessage: (peerId: string, message: Message, connection: Connection) => void;
  /** The peer's stream to us ended: what it told us is no longer current. */
  readonly onInboundEnded: (peerId: string, reason: string) => void;
  readonly onViolation: (peerId: string, reason: string) => void;
  /** True for peers whose streams are refused (banned). */
  readonly refuses: (peerId: string) => boolean;
  /** True while the peer's hello stands here (not dropped since: silent, disconnected, let go). */
  readonly knows: (peerId: string) => boolean;
  /** True for peers connected only for a moment (a DHT query): no stream of ours to them, see open(). */
  readonly passing?: (peerId: string) => boolean;

  readonly onError?: (peerId: string, what: string, error: Error) => void;
  readonly maxQueuedBytes?: number;
}

export class AnnounceStreams implements Startable {
  readonly #node: SwarmNode;
  readonly #init: AnnounceStreamsInit;
  readonly #outbound = new Map<string, FrameWriter>();
  readonly #inbound = new Map<string, Stream>();
  readonly #shortLived = new Map<string, number>();
  #topologyId: string | undefined;
  #running = false;

  constructor(node: SwarmNode, init: AnnounceStreamsInit) {
    this.#node = node;
    this.#init = init;
  }

  async start(): Promise<void> {
    this.#running = true;
    await this.#node.handle(ANNOUNCE_PROTOCOL, (stream, connection) => this.#read(stream, connection), { maxInboundStreams: 4, maxOutboundStreams: 4 });
    // No topology filter: onConnect for every identified connection, so a peer whose first
    // connection closed but that has another still gets a stream; #open dedupes.
    this.#topologyId = await this.#node.register(ANNOUNCE_PROTOCOL, {
      onConnect: (peerId) => {
        if (this.#init.passing?.(peerId.toString()) !== true) void this.#open(peerId);
      },
      onDisconnect: (peerId) => this.#outbound.get(peerId.toString())?.close(),
    });
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#topologyId !== undefined) this.#node.unregister(this.#topologyId);
    await this.#node.unhandle(ANNOUNCE_PROTOCOL);
    for (const writer of this.#outbound.values()) writer.close();
    this.#outbound.clear();
  }

  /** Sends to every peer with an open stream; encoded once. Returns to how many peers. */
  broadcast(message: Message): number {
    if (this.#outbound.size === 0) return 0;
    const frame = encodeFrame(message);
    let sent = 0;
    for (const writer of this.#outbound.values()) if (writer.send(frame)) sent += 1;
    return sent;
  }

  /**
   * Sends to every peer with an open stream that was sent nothing for `quietMs` (a heartbeat: any
   * frame keeps the peer's view of us fresh). Returns to how many peers.
   */
  heartbeat(message: Message, quietMs: number): number {
    const since = performance.now() - quietMs;
    let frame: Uint8Array | undefined;
    let sent = 0;
    for (const writer of this.#outbound.values()) if (writer.sentAt <= since && writer.send((frame ??= encodeFrame(message)))) sent += 1;
    return sent;
  }

  /** Opens our stream to a connected peer that had none (a passing peer that is to stay). */
  open(peerId: PeerId): void {
    if (this.#node.getConnections(peerId).length > 0) void this.#open(peerId);
  }

  /** Sends to the given peers that have an open stream; encoded once. Returns to how many peers. */
  sendTo(message: Message, peerIds: Iterable<string>): number {
    const frame = encodeFrame(message);
    let sent = 0;
    for (const id of peerIds) if (this.#outbound.get(id)?.send(frame) === true) sent += 1;
    return sent;
  }

  async #open(peerId: PeerId): Promise<void> {
    const id = peerId.toString();
    if (!this.#running || this.#outbound.has(id) || this.#init.refuses(id)) return;
    // Reserved before the await, so a second onConnect does not open a second stream.
    const writer = new FrameWriter(this.#init.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES);
    this.#outbound.set(id, writer);
    let stream: Stream;
    try {
      stream = await this.#node.dialProtocol(peerId, ANNOUNCE_PROTOCOL, { signal: AbortSignal.timeout(OPEN_TIMEOUT_MS) });
    } catch (err) {
      if (this.#outbound.get(id) === writer) this.#outbound.delete(id);
      if (this.#running) this.#init.onError?.(id, 'opening the announce stream', err as Error);
      // Still connected (the stream died with a crossing connection that was closed): try again,
      // or the peer never hears from us while the connection lasts.
      if (this.#running && this.#node.getConnections(peerId).length > 0) this.#reopen(peerId, 0);
      return;
    }
    if (!this.#running || this.#outbound.get(id) !== writer) {
      stream.abort(new Error('swarm stopped'));
      return;
    }
    const openedAt = Date.now();
    const closed = () => {
      if (this.#outbound.get(id) === writer) this.#outbound.delete(id);
      if (this.#running && this.#node.getConnections(peerId).length > 0) this.#reopen(peerId, Date.now() - openedAt);
    };
    // A stream whose connection closed while it was negotiated is closed already, its 'close' event
    // gone: without this, the dead writer stayed and the peer never heard from us again.
    if (stream.status !== 'open') return closed();
    stream.addEventListener('close', closed);
    writer.attach(stream, this.#snapshotFrames(id));
  }

  /** Our stream broke but the peer is still connected: open another, unless that keeps failing. */
  #reopen(peerId: PeerId, livedMs: number): void {
    const id = peerId.toString();
    const strikes = livedMs < SHORT_LIVED_MS ? (this.#shortLived.get(id) ?? 0) + 1 : 0;
    this.#shortLived.set(id, strikes);
    if (strikes >= MAX_SHORT_LIVED) {
      this.#shortLived.delete(id);
      void this.#node.hangUp(peerId).catch(() => undefined);
      return;
    }
    setTimeout(() => void this.#open(peerId), REOPEN_DELAY_MS).unref();
  }

  async *#snapshotFrames(peerId: string): AsyncGenerator<Uint8Array> {
    try {
      for await (const message of this.#init.snapshot(peerId)) yield encodeFrame(message);
    } catch (err) {
      this.#init.onError?.(peerId, 'building the snapshot', err as Error);
      throw err;
    }
  }

  async #read(stream: Stream, connection: Connection): Promise<void> {
    const id = connection.remotePeer.toString();
    if (this.#init.refuses(id)) {
      stream.abort(new Error('peer is banned'));
      return;
    }
    // We never write on a peer's stream: close our half now, so it ends cleanly when the peer closes theirs.
    void stream.close().catch(() => undefined);
    // A peer has one current stream to us; a newer one means it gave up on the old one.
    const previous = this.#inbound.get(id);
    this.#inbound.set(id, stream);
    previous?.abort(new Error('superseded by a newer announce stream'));
    let reason = 'announce stream closed';
    let greeted = false;
    try {
      for await (const frame of lp.decode(stream, { maxDataLength: MAX_MESSAGE_BYTES })) {
        if (this.#inbound.get(id) !== stream) return;
        const message = parseMessage(frame.subarray());
        if (message === undefined) continue;
        if (message.type === 'hello') greeted = true;
        // Dropped here after its hello (silent on a stalled host, its connection closing) while
        // frames it sent before were still being read: not the peer's fault. Banned for "before
        // hello", honest hosts under load were shut out for 5 minutes; the stream starts over
        // instead (the peer reopens it with a snapshot while still connected).
        else if (greeted && !this.#init.knows(id)) {
          reason = 'announce stream outlived the peer here';
          stream.abort(new Error('this host dropped the peer; the stream starts over'));
          return;
        }
        this.#init.onMessage(id, message, connection);
      }
    } catch (err) {
      const error = err as Error;
      if (error instanceof ProtocolViolation || FRAMING_VIOLATIONS.has(error.name)) {
        reason = `protocol violation: ${error.message}`;
        this.#init.onViolation(id, error.message);
      } else {
        reason = `announce stream failed: ${error.message}`;
      }
      stream.abort(error);
    } finally {
      if (this.#inbound.get(id) === stream) {
        this.#inbound.delete(id);
        this.#init.onInboundEnded(id, reason);
      }
    }
  }
}

/**
 * Writes frames to one stream in order, waiting for 'drain' when the stream says it is full.
 * Frames sent before attach() are dropped: the snapshot that attach() starts already covers them.
 */
class FrameWriter {
  readonly #maxQueuedBytes: number;
  readonly #queue: Array<Uint8Array | AsyncIterable<Uint8Array>> = [];
  #stream: Stream | undefined;
  #queuedBytes = 0;
  #pumping = false;
  /** When a frame was last queued (performance.now()). */
  sentAt = -Infinity;

  constructor(maxQueuedBytes: number) {
    this.#maxQueuedBytes = maxQueuedBytes;
  }

  attach(stream: Stream, snapshot: AsyncIterable<Uint8Array>): void {
    this.#stream = stream;
    this.#queue.push(snapshot);
    void this.#pump();
  }

  /** False when the frame was dropped (no open stream, or the peer is too far behind). */
  send(frame: Uint8Array): boolean {
    const stream = this.#stream;
    if (stream === undefined || stream.status !== 'open') return false;
    if (this.#queuedBytes + frame.byteLength > this.#maxQueuedBytes) {
      // Better a fresh snapshot on a new stream than an unbounded queue for a peer that stalls.
      stream.abort(new Error(`peer is more than ${this.#maxQueuedBytes} bytes behind`));
      return false;
    }
    this.#queuedBytes += frame.byteLength;
    this.sentAt = performance.now();
    this.#queue.push(frame);
    void this.#pump();
    return true;
  }

  close(): void {
    const stream = this.#stream;
    this.#queue.length = 0;
    if (stream !== undefined && stream.status === 'open') void stream.close().catch(() => stream.abort(new Error('close failed')));
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      let item: Uint8Array | AsyncIterable<Uint8Array> | undefined;
      while ((item = this.#queue.shift()) !== undefined) {
        if (item instanceof Uint8Array) {
          this.#queuedBytes -= item.byteLength;
          await this.#write(item);
        } else {
          for await (const frame of item) await this.#write(frame);
        }
      }
    } catch (err) {
      this.#queue.length = 0;
      this.#stream?.abort(err as Error);
    } finally {
      this.#pumping = false;
    }
  }

  async #write(frame: Uint8Array): Promise<void> {
    const stream = this.#stream!;
    if (stream.status !== 'open' || stream.writeStatus !== 'writable') throw new Error('announce stream is closed');
    if (stream.writableNeedsDrain) await stream.onDrain();
    stream.send(frame);
  }
}
