// What Swarm and MemorySwarm share: the SwarmApi calls that only touch the announcement logic and
// the peer table. The two differ in how a message reaches the peers (`broadcast`) and how they
// connect; everything a caller sees here behaves the same on sockets and in memory.
import type { Announcements } from './announcements.ts';
import { TypedEmitter } from './events.ts';
import type { PeerTable } from './peer-table.ts';
import type { Message } from './protocol.ts';
import { blobKey, type BlobKey, type Holder, type PeerSummary, type Penalty, type PieceSet, type SwarmEvents, type TagRecord, type UnjoinablePeer } from './types.ts';

/**
 * Load changes are told at most this often; the last one is always sent, and a progress
 * announcement meanwhile carries it. (500 ms cut the fan-out's messages by a tenth, for little CPU,
 * and the largest upload share came out 1.5-2.9x fair instead of 1.5-2.6x: kept at 200.)
 */
export const LOAD_REPORT_MS = 200;

export abstract class AnnouncingSwarm extends TypedEmitter<SwarmEvents> {
  protected abstract readonly table: PeerTable;
  #loadNow = 0;
  #loadSentAt = 0;
  #loadTimer: NodeJS.Timeout | undefined;
  protected abstract readonly announcements: Announcements;

  /** Sends a message to every connected peer (undefined: nothing to send). */
  protected abstract broadcast(message: Message | undefined): void;

  /** Sends a message to one connected peer (dropped if there is no stream to it). */
  protected abstract sendTo(peerId: string, message: Message): void;

  /** Sends what concerns one blob's fetch (progress) to the peers that need it: here, everyone. */
  protected tellAbout(_digest: string, message: Message): void {
    this.broadcast(message);
  }

  /** Sends a load change to the peers that may fetch from this host: here, everyone. */
  protected tellLoad(message: Message | undefined): void {
    this.broadcast(message);
  }

  announceHave(digest: string, size: number): void {
    this.broadcast(this.announcements.have(digest, size));
  }

  announceWithdrawn(digest: BlobKey): void {
    this.broadcast(this.announcements.withdrawn(blobKey(digest)));
  }

  announceProgress(digest: BlobKey, size: number, pieces: PieceSet): void {
    // The progress message carries the load as it is now: a ping that would only repeat it is not sent.
    this.announcements.load(this.#loadNow);
    const key = blobKey(digest);
    this.tellAbout(key, this.announcements.progress(key, size, pieces));
  }

  reportLoad(load: number): void {
    this.#loadNow = load;
    if (this.#loadTimer) return;
    const wait = this.#loadSentAt + LOAD_REPORT_MS - Date.now();
    if (wait > 0) {
      this.#loadTimer = setTimeout(() => {
        this.#loadTimer = undefined;
        this.reportLoad(this.#loadNow);
      }, wait).unref();
      return;
    }
    const message = this.announcements.load(load);
    if (message === undefined) return;
    this.#loadSentAt = Date.now();
    this.tellLoad(message);
  }

  tellPieceTaken(ownerId: string, digest: BlobKey, piece: number): void {
    this.sendTo(ownerId, { type: 'taken', digest: blobKey(digest), piece });
  }

  announceWant(digest: BlobKey): void {
    this.broadcast(this.announcements.want(blobKey(digest), true));
  }

  cancelWant(digest: BlobKey): void {
    this.broadcast(this.announcements.want(blobKey(digest), false));
  }

  announceTag(repository: string, tag: string, digest: string, timestamp = Date.now(), options: { readonly pushed?: boolean } = {}): TagRecord {
    const { record, message } = this.announcements.tag(repository, tag, digest, timestamp, { pushed: options.pushed === true });
    this.broadcast(message);
    return record;
  }

  announceTagDeleted(repository: string, tag: string, digest: string, timestamp = Date.now()): TagRecord {
    const { record, message } = this.announcements.tag(repository, tag, digest, timestamp, { deleted: true });
    this.broadcast(message);
    return record;
  }

  holders(digest: BlobKey): Holder[] {
    return this.table.holders(blobKey(digest));
  }

  wanters(digest: string): string[] {
    return this.announcements.wanters(digest);
  }

  newestTag(repository: string, tag: string): TagRecord | undefined {
    return this.table.newestTag(repository, tag);
  }

  peers(): PeerSummary[] {
    return this.table.peers();
  }

  /** None in memory (no handshake); the libp2p swarm overrides it. */
  unjoinable(): UnjoinablePeer[] {
    return [];
  }

  isPenalised(peerId: string): boolean {
    return this.table.isPenalised(peerId);
  }

  penalise(peerId: string, reason: string, durationMs: number): void {
    this.emit('peer:penalised', this.table.penalise(peerId, reason, durationMs));
  }

  penalties(): Penalty[] {
    return this.table.penalties();
  }
}
