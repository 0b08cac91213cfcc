// The announce protocol's messages: what goes on the wire and how every field from a peer is
// checked before anything is believed. JSON, length-prefixed: the messages are small maps of CID
// strings and numbers, JSON needs no schema compiler or generated code, and is readable in a
// packet capture; the varint length prefix lets the reader refuse an oversized frame before
// buffering it. Bulk data (blobs) never travels here; it goes over the HTTP data plane.
import * as lp from 'it-length-prefixed';
import { isValidRepositoryName, isValidTag, splitRegistryHost } from '../oci/index.ts';
import { digestToKey, tryCidToDigest } from './keys.ts';
import { MAX_PIECES, piecesProblem } from './pieces.ts';
import type { InventoryEntry, PieceSet, TagRecord } from './types.ts';

export const ANNOUNCE_PROTOCOL = '/shoal/announce/1.0.0';
export const PROTOCOL_VERSION = 1;
/** Largest frame accepted or sent; a full-inventory batch of MAX_BATCH entries is about 400 KB. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Entries per have/withdrawn/want/unwant message; inventories go as several batches. */
export const MAX_BATCH = 4096;
export const MAX_TAG_BATCH = 1024;
/** Peer exchange: entries per message and addresses per peer. */
export const MAX_PEERS_BATCH = 256;
export const MAX_PEER_ADDRESSES = 8;
/** Largest load (piece requests being served) a peer may report; more is a lie or a bug. */
export const MAX_LOAD = 100_000;

/** Another swarm member and where it listens, so a host that bootstrapped from one peer meets the rest. */
export interface PeerAddresses {
  readonly peerId: string;
  readonly addresses: readonly string[];
}

export type Message =
  | { readonly type: 'hello'; readonly version: number; readonly time: number; readonly dataUrl?: string; readonly dataPort?: number; readonly pieceSize?: number }
  /**
   * The sender dialled the receiver as a member of a blob's owner committee, to ask it for pieces:
   * answered even past the receiver's neighbour limit (connection-budget.ts answer). Hosts older
   * than this message ignore it, as any unknown type.
   */
  | { readonly type: 'ask' }
  /**
   * The sender started reading piece `piece` of a blob from the seed, though the receiver owns it
   * as the sender sees the members (its owner stalled or failed, or views differ for a moment): the
   * receiver stops its own seed read of the piece and asks the sender for it, so the seed sends
   * again only what the two reads overlap (piece-takeover.ts). Hosts older than it ignore it.
   */
  | { readonly type: 'taken'; readonly digest: string; readonly piece: number }
  | { readonly type: 'have'; readonly blobs: readonly InventoryEntry[] }
  | { readonly type: 'withdrawn'; readonly digests: readonly string[] }
  | { readonly type: 'progress'; readonly digest: string; readonly size: number; readonly pieces: PieceSet; readonly load?: number }
  | { readonly type: 'want'; readonly digests: readonly string[] }
  | { readonly type: 'unwant'; readonly digests: readonly string[] }
  | { readonly type: 'tag'; readonly tags: readonly TagRecord[] }
  | { readonly type: 'peers'; readonly peers: readonly PeerAddresses[] }
  /** The snapshot sent after hello is complete. */
  | { readonly type: 'synced' }
  /** Heartbeat: keeps lastSeen fresh and the stream under libp2p's inactivity timeout. */
  | { readonly type: 'ping'; readonly time: number; readonly load?: number };

/** A peer broke the protocol; the connection is closed and the peer banned for a while. */
export class ProtocolViolation extends Error {
  override readonly name = 'ProtocolViolation';
}

/** JSON body (without the length prefix), keys as CIDs. */
export function toWire(message: Message): Uint8Array {
  let wire: unknown;
  switch (message.type) {
    case 'have':
      wire = { type: 'have', blobs: message.blobs.map(({ digest, size }) => [digestToKey(digest), size]) };
      break;
    case 'withdrawn':
    case 'want':
    case 'unwant':
      wire = { type: message.type, keys: message.digests.map(digestToKey) };
      break;
    case 'progress':
      wire = {
        type: 'progress',
        key: digestToKey(message.digest),
        size: message.size,
        pieceSize: message.pieces.pieceSize,
        bitfield: Buffer.from(message.pieces.bitfield).toString('base64'),
        ...(message.pieces.done !== undefined ? { done: Buffer.from(message.pieces.done).toString('base64') } : {}),
        ...(message.load !== undefined ? { load: message.load } : {}),
      };
      break;
    case 'taken':
      wire = { type: 'taken', key: digestToKey(message.digest), piece: message.piece };
      break;
    case 'tag':
      wire = { type: 'tag', tags: message.tags.map(({ digest, ...rest }) => ({ ...rest, key: digestToKey(digest) })) };
      break;
    default:
      wire = message;
  }
  return Buffer.from(JSON.stringify(wire));
}

/** One frame: varint length, then the JSON body. */
export function encodeFrame(message: Message): Uint8Array {
  const body = toWire(message);
  if (body.byteLength > MAX_MESSAGE_BYTES) throw new RangeError(`${message.type} message of ${body.byteLength} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  return lp.encode.single(body).subarray();
}

/**
 * Parses and checks one frame body from a peer. Unknown message types give undefined (a newer
 * peer may speak more); a known type with a bad field throws ProtocolViolation.
 */
export function parseMessage(body: Uint8Array): Message | undefined {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    throw new ProtocolViolation('frame is not JSON');
  }
  const m = record(json, 'message');
  switch (m.type) {
    case 'hello': {
      const dataUrl = m.dataUrl === undefined ? undefined : dataUrlOf(m.dataUrl);
      const dataPort = m.dataPort === undefined ? undefined : port(m.dataPort);
      // Absent from hosts older than piece ownership: they take part as holders, never as owners.
      const pieceSize = m.pieceSize === undefined ? undefined : count(m.pieceSize, 'pieceSize');
      if (pieceSize === 0) throw new ProtocolViolation('hello: pieceSize must be positive');
      return { type: 'hello', version: count(m.version, 'version'), time: count(m.time, 'time'), dataUrl, dataPort, pieceSize };
    }
    case 'have':
      return { type: 'have', blobs: batch(m.blobs, MAX_BATCH).map(blobEntry) };
    case 'withdrawn':
    case 'want':
    case 'unwant':
      return { type: m.type, digests: batch(m.keys, MAX_BATCH).map(contentKey) };
    case 'progress': {
      const size = count(m.size, 'size');
      // `done` is absent from hosts older than it.
      const done = m.done === undefined ? {} : { done: base64Bits(m.done, 'done') };
      const pieces = { pieceSize: count(m.pieceSize, 'pieceSize'), bitfield: base64Bits(m.bitfield, 'bitfield'), ...done };
      const problem = piecesProblem(size, pieces);
      if (problem !== undefined) throw new ProtocolViolation(`progress: ${problem}`);
      return { type: 'progress', digest: contentKey(m.key), size, pieces, ...loadOf(m) };
    }
    case 'tag':
      return { type: 'tag', tags: batch(m.tags, MAX_TAG_BATCH).map(tagRecord) };
    case 'peers':
      return { type: 'peers', peers: batch(m.peers, MAX_PEERS_BATCH).map(peerAddresses) };
    case 'synced':
      return { type: 'synced' };
    case 'ping':
      return { type: 'ping', time: count(m.time, 'time'), ...loadOf(m) };
    case 'ask':
      return { type: 'ask' };
    case 'taken': {
      const piece = count(m.piece, 'piece');
      if (piece >= MAX_PIECES) throw new ProtocolViolation(`taken: piece must be below ${MAX_PIECES}`);
      return { type: 'taken', digest: contentKey(m.key), piece };
    }
    default:
      if (typeof m.type !== 'string') throw new ProtocolViolation('message without a type');
      return undefined;
  }
}

function base64Bits(value: unknown, what: string): Uint8Array {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new ProtocolViolation(`progress ${what} must be base64`);
  return Uint8Array.from(Buffer.from(value, 'base64'));
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProtocolViolation(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function batch(value: unknown, max: number): unknown[] {
  if (!Array.isArray(value) || value.length > max) throw new ProtocolViolation(`expected an array of at most ${max} entries`);
  return value;
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new ProtocolViolation(`${what} must be a non-negative integer`);
  return value;
}

/** The optional `load` of progress and ping (absent from older hosts: their load counts as 0). */
function loadOf(m: Record<string, unknown>): { load?: number } {
  if (m.load === undefined) return {};
  const load = count(m.load, 'load');
  if (load > MAX_LOAD) throw new ProtocolViolation(`load must be at most ${MAX_LOAD}`);
  return { load };
}

function port(value: unknown): number {
  const n = count(value, 'dataPort');
  if (n < 1 || n > 65535) throw new ProtocolViolation('dataPort must be 1..65535');
  return n;
}

function contentKey(value: unknown): string {
  const digest = typeof value === 'string' ? tryCidToDigest(value) : undefined;
  if (digest === undefined) throw new ProtocolViolation(`not a content key: ${JSON.stringify(value)?.slice(0, 80)}`);
  return digest;
}

function blobEntry(value: unknown): InventoryEntry {
  if (!Array.isArray(value) || value.length !== 2) throw new ProtocolViolation('have entries are [key, size]');
  return { digest: contentKey(value[0]), size: count(value[1], 'size') };
}

// base58btc (Qm…, 12D3Koo…) or base32 CIDv1 (b…) peer ids. Origins only break ties between tag
// records, so a well-formed label is all that matters; peers' real ids come from noise.
const PEER_ID = /^(?:[1-9A-HJ-NP-Za-km-z]{40,100}|b[a-z2-7]{50,120})$/;

export function isPeerIdString(value: unknown): value is string {
  return typeof value === 'string' && PEER_ID.test(value);
}

function peerAddresses(value: unknown): PeerAddresses {
  const p = record(value, 'peer');
  if (!isPeerIdString(p.peerId)) throw new ProtocolViolation('peer: invalid peer id');
  const addresses = batch(p.addresses, MAX_PEER_ADDRESSES);
  if (!addresses.every((a) => typeof a === 'string' && a.startsWith('/') && a.length <= 256)) throw new ProtocolViolation('peer: addresses must be multiaddr strings');
  return { peerId: p.peerId, addresses: addresses as string[] };
}

/** `registry.example.com/x/y` and `localhost:5001/x` carry a registry host; the rest must be spec names. */
function isRepository(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 255) return false;
  if (isValidRepositoryName(value)) return true;
  const { host, path } = splitRegistryHost(value);
  return host !== undefined && /^[a-zA-Z0-9.-]+(?::[0-9]{1,5})?$/.test(host) && isValidRepositoryName(path);
}

function tagRecord(value: unknown): TagRecord {
  const t = record(value, 'tag record');
  if (!isRepository(t.repository)) throw new ProtocolViolation('tag record: invalid repository');
  if (typeof t.tag !== 'string' || !isValidTag(t.tag)) throw new ProtocolViolation('tag record: invalid tag');
  if (!isPeerIdString(t.origin)) throw new ProtocolViolation('tag record: invalid origin');
  if (t.deleted !== undefined && typeof t.deleted !== 'boolean') throw new ProtocolViolation('tag record: deleted must be a boolean');
  if (t.pushed !== undefined && typeof t.pushed !== 'boolean') throw new ProtocolViolation('tag record: pushed must be a boolean');
  const flag = t.deleted === true ? { deleted: true as const } : t.pushed === true ? { pushed: true as const } : {};
  return { repository: t.repository, tag: t.tag, digest: contentKey(t.key), timestamp: count(t.timestamp, 'timestamp'), origin: t.origin, ...flag };
}

/** Only a plain origin is accepted: a peer must not steer others to paths, users or other schemes. */
function dataUrlOf(value: unknown): string {
  if (typeof value !== 'string' || value.length > 256) throw new ProtocolViolation('dataUrl must be a short string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ProtocolViolation('dataUrl is not a URL');
  }
  const plain = (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '' && url.pathname === '/' && url.search === '' && url.hash === '';
  if (!plain) throw new ProtocolViolation('dataUrl must be http(s)://host:port and nothing more');
  return url.origin;
}
