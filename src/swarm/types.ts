// The swarm as the rest of shoal sees it: digests in, peers and holders out. Both the libp2p
// Swarm and the in-memory MemorySwarm implement SwarmApi, so distribute is tested without sockets.
import type { Digest } from '../oci/index.ts';
import type { TypedEmitter } from './events.ts';

/**
 * Which fixed-size pieces of a blob a peer holds. Bit i (most significant bit first within each
 * byte, as BitTorrent's bitfield) is piece i, covering bytes [i*pieceSize, min((i+1)*pieceSize, size)).
 */
export interface PieceSet {
  readonly pieceSize: number;
  readonly bitfield: Uint8Array;
  /**
   * Of the pieces in `bitfield`, those complete at the holder (the others are arriving there).
   * Absent from hosts older than it: none is known to be complete.
   */
  readonly done?: Uint8Array;
}

/** A peer that can serve (part of) a blob over its data plane. */
export interface Holder {
  readonly peerId: string;
  /** Base URL of the peer's data plane, `http://<addr>:<peerPort>` (`https://` with a cluster key). */
  readonly url: string;
  readonly size: number;
  /** True when the peer holds the whole verified blob; false while it is still fetching it. */
  readonly complete: boolean;
  /** For incomplete holders: the pieces held. */
  readonly pieces?: PieceSet;
  /** Piece requests the peer said it is serving now (to every host); absent: it never said (0). */
  readonly load?: number;
}

/** A tag as announced: last writer wins by timestamp, then by origin peer id (so every node agrees). */
export interface TagRecord {
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
  /** Milliseconds since the epoch, on the origin's clock. */
  readonly timestamp: number;
  /** Peer id of the node where the tag was set. */
  readonly origin: string;
  /**
   * The tag was deleted on its origin at `timestamp` (`digest`: what it named then). Newer wins as
   * for any record; a host that did not take the tag before the delete does not resolve it from
   * the swarm. A peer that does not know the field takes it for the tag set again to that digest.
   */
  readonly deleted?: true;
  /**
   * The tag (to this digest) was pushed to a node of the swarm, not only resolved from the seed:
   * the seed's 404 does not withdraw it (manifest-service.ts). A host that takes the tag from
   * the swarm announces it pushed in turn. Peers that do not know the field ignore it.
   */
  readonly pushed?: true;
}

export interface PeerSummary {
  readonly peerId: string;
  /** Multiaddrs of the peer's open connections. */
  readonly addresses: readonly string[];
  /** Data-plane base URL, once the peer said hello with a data port. */
  readonly url: string | undefined;
  readonly connectedAt: number;
  /** Last time anything (a message or a heartbeat) arrived from the peer. */
  readonly lastSeen: number;
  /** The peer's clock minus ours at its last hello or heartbeat, ignoring transit time. */
  readonly clockSkewMs: number;
  /** The piece size the peer fetches with; only peers with this host's piece size own pieces. */
  readonly pieceSize: number | undefined;
  /** True once the peer's full inventory has arrived after its hello. */
  readonly synced: boolean;
  /** Complete blobs the peer holds. */
  readonly blobs: number;
}

export interface Penalty {
  readonly peerId: string;
  readonly reason: string;
  /** Epoch ms when the penalty ends. */
  readonly until: number;
  /** Connection bans (protocol violations) also refuse the peer's connections until `until`. */
  readonly refuseConnections: boolean;
}

export interface SwarmEvents {
  'peer:joined': PeerSummary;
  'peer:left': { readonly peerId: string; readonly reason: string };
  /** The peer's full inventory (blobs, pieces, wants, tags) has arrived. */
  'peer:synced': { readonly peerId: string };
  'peer:penalised': Penalty;
  have: { readonly peerId: string; readonly digest: string; readonly size: number };
  withdrawn: { readonly peerId: string; readonly digest: string };
  progress: { readonly peerId: string; readonly digest: string; readonly size: number; readonly pieces: PieceSet };
  want: { readonly peerId: string; readonly digest: string };
  /** The peer took piece `piece` over from this host, its owner, found stalled on it (protocol.ts 'taken'). */
  'piece:taken': { readonly peerId: string; readonly digest: string; readonly piece: number };
  'want:cancelled': { readonly peerId: string; readonly digest: string };
  /** A tag newer than any known before (from a peer; own announcements do not echo). */
  tag: TagRecord & { readonly peerId: string };
}

/** What a blob's holder announces at connect time; the swarm asks for it and never reads the disk. */
export interface InventoryEntry {
  readonly digest: string;
  readonly size: number;
}

export type Inventory = () => Iterable<InventoryEntry> | AsyncIterable<InventoryEntry>;

/** A blob as the swarm's callers name it: a parsed Digest, or its canonical string (the wire's key). */
export type BlobKey = Digest | string;

/** The canonical string of a BlobKey. */
export function blobKey(digest: BlobKey): string {
  return typeof digest === 'string' ? digest : digest.value;
}

/**
 * What the fetch engine (src/distribute) needs of the swarm, and all it may use: who is there
 * and what they hold, saying what this host holds and wants, and penalising a bad source.
 */
export interface SwarmView extends TypedEmitter<SwarmEvents> {
  readonly peerId: string;
  peers(): PeerSummary[];
  /** Peers able to serve the blob: connected, not penalised, complete holders first. */
  holders(digest: BlobKey): Holder[];
  /**
   * The hosts that own the blob's pieces, every host agreeing (the DHT's closest to its key);
   * undefined (or not implemented): every member owns pieces; empty: still being looked up.
   */
  ownerCommittee?(digest: BlobKey): readonly string[] | undefined;
  /** Skip a misbehaving peer as a source for `durationMs` (its announcements are still heard). */
  penalise(peerId: string, reason: string, durationMs: number): void;
  /** Whether the peer is penalised now (skipped as a holder, and as an owner: piece-choice.ts). */
  isPenalised?(peerId: string): boolean;
  /** This host is fetching the blob and holds these pieces (for others to fetch from it early). */
  announceProgress(digest: BlobKey, size: number, pieces: PieceSet): void;
  /** This host no longer holds the blob (evicted, deleted, failed fsck, a piece cache dropped). */
  announceWithdrawn(digest: BlobKey): void;
  /** Tells the piece's stalled owner that this host reads the piece from the seed now (protocol.ts 'taken'). */
  tellPieceTaken?(ownerId: string, digest: BlobKey, piece: number): void;
  /** This host wants the blob / no longer does. */
  announceWant(digest: BlobKey): void;
  cancelWant(digest: BlobKey): void;
}

/** A host found on the network whose connections fail in the handshake (another cluster key, or none): handshake-failures.ts. */
export interface UnjoinablePeer {
  readonly peerId: string;
  /** Where it was dialled last (up to 4). */
  readonly addresses: readonly string[];
}

/** The whole swarm: the view above plus start/stop, tags, wants, load and penalties, for the daemon's wiring. */
export interface SwarmApi extends SwarmView {
  readonly peerId: string;
  /** Listening multiaddrs including `/p2p/<id>`, for other hosts' bootstrap lists. */
  readonly multiaddrs: readonly string[];
  start(): Promise<void>;
  stop(): Promise<void>;

  /** This host now holds the complete, verified blob. */
  announceHave(digest: string, size: number): void;
  /** This host no longer holds the blob (evicted, deleted, failed fsck). */
  announceWithdrawn(digest: BlobKey): void;
  /** This host is fetching the blob and holds these pieces (for others to fetch from it early). */
  announceProgress(digest: BlobKey, size: number, pieces: PieceSet): void;
  /**
   * How many piece requests this host is serving now: sent with its next progress announcement
   * and in a ping when it changes (a few times a second at most), so askers pick idler holders.
   */
  reportLoad(load: number): void;
  /** This host wants the blob (it takes part in the rendezvous election for it). */
  announceWant(digest: BlobKey): void;
  cancelWant(digest: BlobKey): void;
  /** A tag was set on this host; `timestamp` defaults to now. Returns the record announced. */
  announceTag(repository: string, tag: string, digest: string, timestamp?: number, options?: { readonly pushed?: boolean }): TagRecord;
  /** A tag that named `digest` was deleted on this host (TagRecord.deleted). Returns the record announced. */
  announceTagDeleted(repository: string, tag: string, digest: string, timestamp?: number): TagRecord;

  /** Peers able to serve the blob: connected, not penalised, complete holders first. */
  holders(digest: BlobKey): Holder[];
  /** Live peers that want the blob, this host included when it wants it, sorted by peer id. */
  wanters(digest: string): string[];
  /** The newest record for repository:tag known to the swarm, this host's own included. */
  newestTag(repository: string, tag: string): TagRecord | undefined;
  peers(): PeerSummary[];
  /** Hosts found but not joined: their connections fail in the handshake (another cluster key, or none). */
  unjoinable(): UnjoinablePeer[];
  /** Skip a misbehaving peer as a source for `durationMs` (its announcements are still heard). */
  penalise(peerId: string, reason: string, durationMs: number): void;
  penalties(): Penalty[];
}
