import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { OciError, type ByteRange } from '../oci/index.ts';
import { isDiskFull, type PartialBlob } from '../store/index.ts';
import { hasPiece, piecesFromIndexes, type Holder, type SwarmApi } from '../swarm/index.ts';
import { coalesce } from './coalesce.ts';
import { electedFor } from './election.ts';
import type { PeerClient } from './peer-client.ts';
import type { TransferStats } from './transfer-stats.ts';
import type { BlobSource, BlobWant } from './types.ts';

/** Pieces fetched at once by one host: enough to keep a LAN link busy, few enough to stream in order. */
export const DEFAULT_MAX_ACTIVE_PIECES = 8;
/**
 * Of those, pieces fetched from the seed at once. Kept apart from the total: a seed shared by many
 * hosts gives each a slow trickle, and seed pieces holding every slot left a host's link idle
 * while peers had pieces for it (fan-out bench, 4 hosts at 100 Mbit/s: 1.43x ideal with one
 * shared limit of 4).
 */
export const DEFAULT_MAX_SEED_PIECES = 2;
/** Pieces fetched at once from one peer. */
export const DEFAULT_MAX_PER_PEER = 2;
/** How long to wait for the host elected for a piece to show progress before fetching it from the seed. */
export const DEFAULT_STALL_MS = 10_000;
/**
 * How long after announcing its want a host waits for the wants of hosts that started pulling at
 * the same moment before it fetches pieces it might not be elected for (see #choose).
 */
export const DEFAULT_WANT_SETTLE_MS = 300;
/** A peer that failed a piece is not asked again for a while. */
export const PEER_FAILURE_PENALTY_MS = 30_000;
/** A peer whose bytes failed verification is banned as a source for this long. */
export const LIAR_BAN_MS = 10 * 60_000;
const TICK_MS = 250;
/** How often a fetch re-announces its progress while pieces are in flight. */
export const PROGRESS_HEARTBEAT_MS = 1_000;
/** Network chunks are joined into writes of this size (see coalesce.ts). */
export const WRITE_BATCH_BYTES = 512 * 1024;

export interface PieceFetchComponents {
  readonly swarm: SwarmApi;
  readonly seed: BlobSource | undefined;
  readonly peers: PeerClient;
  readonly stats: TransferStats;
  readonly logger: Logger;
}

export interface PieceFetchInit {
  readonly maxActive?: number;
  readonly maxPerPeer?: number;
  readonly maxSeed?: number;
  readonly stallMs?: number;
  readonly settleMs?: number;
}

type Choice = { readonly kind: 'peer'; readonly holder: Holder } | { readonly kind: 'seed' };

/**
 * Fills one blob piece by piece: from peers that hold a piece, else from the seed for the pieces
 * this host is elected for (rendezvous over the hosts that want the blob), else by waiting for
 * the elected host to get it — so the seed sends each piece about once however many hosts pull.
 * Lowest pieces first, so the waiting client streams. A verification failure is traced to the
 * peer that sent the differing piece (compared with the seed's copy), which is banned.
 */
export class PieceFetch {
  readonly #want: BlobWant;
  readonly #blob: PartialBlob;
  readonly #c: PieceFetchComponents;
  readonly #maxActive: number;
  readonly #maxPerPeer: number;
  readonly #maxSeed: number;
  readonly #stallMs: number;
  readonly #settleMs: number;
  #settledAt = 0;
  readonly #active = new Set<number>();
  readonly #perPeer = new Map<string, number>();
  readonly #failedPeers = new Map<number, Set<string>>();
  readonly #source = new Map<number, string>();
  readonly #waitingSince = new Map<number, number>();
  readonly #lastProgress = new Map<string, number>();
  readonly #seedErrors: unknown[] = [];
  /** A local failure no other source can fix (the disk is full): the fetch stops with it. */
  #fatal: unknown;
  #seedActive = 0;
  #wake: (() => void) | undefined;
  /** Pieces streaming in from the seed right now: announced as held so peers can cut through. */
  readonly #fromSeedNow = new Set<number>();
  #lastAnnounced = 0;

  constructor(want: BlobWant, blob: PartialBlob, components: PieceFetchComponents, init: PieceFetchInit = {}) {
    this.#want = want;
    this.#blob = blob;
    this.#c = components;
    this.#maxActive = init.maxActive ?? DEFAULT_MAX_ACTIVE_PIECES;
    this.#maxPerPeer = init.maxPerPeer ?? DEFAULT_MAX_PER_PEER;
    this.#maxSeed = init.maxSeed ?? DEFAULT_MAX_SEED_PIECES;
    this.#stallMs = init.stallMs ?? DEFAULT_STALL_MS;
    this.#settleMs = init.settleMs ?? DEFAULT_WANT_SETTLE_MS;
  }

  /** Fetches every piece, verifies (repairing once) and commits. Throws when that cannot be done. */
  async run(): Promise<void> {
    const { swarm } = this.#c;
    const digest = this.#want.digest.value;
    const seen = (event: { peerId: string; digest: string }): void => {
      if (event.digest !== digest) return;
      this.#lastProgress.set(event.peerId, Date.now());
      this.#wake?.();
    };
    const unsubscribe = [swarm.on('progress', seen), swarm.on('have', seen), swarm.on('want', seen), swarm.on('peer:left', () => this.#wake?.()), swarm.on('want:cancelled', () => this.#wake?.())];
    swarm.announceWant(digest);
    this.#settledAt = Date.now() + this.#settleMs;
    try {
      await this.#fillAll();
      for (let attempt = 0; ; attempt++) {
        const result = await this.#blob.commit();
        if (result.ok) return;
        this.#c.stats.verificationFailures += 1;
        this.#c.logger.warn({ digest, actual: result.actual }, 'assembled blob failed verification; comparing peer pieces with the seed');
        if (attempt >= 1) throw new OciError('DIGEST_INVALID', `blob ${digest} still fails verification after repair (got ${result.actual})`);
        await this.#repair();
      }
    } finally {
      swarm.cancelWant(digest);
      for (const off of unsubscribe) off();
    }
  }

  async #fillAll(): Promise<void> {
    const running = new Set<Promise<void>>();
    while (!this.#blob.isComplete) {
      if (this.#fatal !== undefined) break;
      for (let index = 0; index < this.#blob.pieceCount && this.#active.size < this.#maxActive; index++) {
        if (this.#blob.isPieceComplete(index) || this.#active.has(index)) continue;
        const choice = this.#choose(index);
        if (!choice) continue;
        const task = this.#fetchPiece(index, choice).finally(() => {
          running.delete(task);
          this.#wake?.();
        });
        running.add(task);
      }
      if (this.#blob.isComplete) break;
      if (running.size === 0) this.#giveUpIfStuck();
      // While pieces are in flight, say so every second: hosts waiting for a piece this host was
      // elected for judge it stalled only when these stop (see DEFAULT_STALL_MS).
      if (running.size > 0 && Date.now() - this.#lastAnnounced >= PROGRESS_HEARTBEAT_MS) this.#announce();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, TICK_MS);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    await Promise.all(running);
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  /** Progress: complete pieces, plus pieces arriving from the seed (never ones arriving from peers, so no two hosts wait on each other). */
  #announce(): void {
    const blob = this.#blob;
    this.#lastAnnounced = Date.now();
    const held = new Set([...blob.completePieces(), ...this.#fromSeedNow]);
    this.#c.swarm.announceProgress(this.#want.digest.value, blob.size, piecesFromIndexes(blob.size, blob.pieceSize, held));
  }

  #choose(index: number): Choice | undefined {
    const { swarm } = this.#c;
    const digest = this.#want.digest.value;
    const failed = this.#failedPeers.get(index);
    const holding = swarm
      .holders(digest)
      .filter((h) => h.size === this.#blob.size && (h.complete || (h.pieces !== undefined && h.pieces.pieceSize === this.#blob.pieceSize && hasPiece(h.pieces, index))))
      .filter((h) => !failed?.has(h.peerId));
    const holders = holding.filter((h) => (this.#perPeer.get(h.peerId) ?? 0) < this.#maxPerPeer);
    if (holders.length > 0) {
      holders.sort((a, b) => (this.#perPeer.get(a.peerId) ?? 0) - (this.#perPeer.get(b.peerId) ?? 0) || Number(b.complete) - Number(a.complete));
      return { kind: 'peer', holder: holders[0]! };
    }
    // A peer has the piece but is busy with others of ours: wait for a free slot there. Asking
    // the seed instead (as this did) pulled bytes the swarm already held, e.g. a third of a blob
    // that one peer held complete.
    if (holding.length > 0) return undefined;
    if (!this.#c.seed || this.#seedActive >= this.#maxSeed) return undefined;
    // Hosts that start pulling at the same moment do not know of each other's wants yet, and each
    // alone would elect itself for the first pieces: with 4 hosts the seed sent 1.5x the blob.
    // Until the wants have had time to arrive, take only the pieces this host wins among every
    // connected peer: rendezvous hashing gives it those whichever of them turn out to want it.
    const settled = Date.now() >= this.#settledAt;
    const candidates = [...new Set([...(settled ? swarm.wanters(digest) : swarm.peers().map((p) => p.peerId)), swarm.peerId])].sort();
    const elected = electedFor(digest, index, candidates);
    if (elected === swarm.peerId) return { kind: 'seed' };
    if (!settled) return undefined;
    const now = Date.now();
    const since = this.#waitingSince.get(index) ?? now;
    this.#waitingSince.set(index, since);
    const lastSign = Math.max(since, this.#lastProgress.get(elected!) ?? 0);
    return now - lastSign > this.#stallMs ? { kind: 'seed' } : undefined;
  }

  async #fetchPiece(index: number, choice: Choice): Promise<void> {
    const blob = this.#blob;
    const start = blob.pieceStart(index) + blob.pieceFilled(index);
    const end = blob.pieceStart(index) + blob.pieceLength(index) - 1;
    const peerId = choice.kind === 'peer' ? choice.holder.peerId : undefined;
    this.#active.add(index);
    if (peerId) this.#perPeer.set(peerId, (this.#perPeer.get(peerId) ?? 0) + 1);
    else this.#seedActive += 1;
    let stream: Readable | undefined;
    try {
      stream = await this.#open(choice, { start, end });
      if (!peerId) {
        // Cut-through: peers may fetch this piece from us while it arrives from the seed, instead
        // of waiting for all of it (a 4 MiB piece takes seconds on a shared seed link).
        this.#fromSeedNow.add(index);
        this.#announce();
      }
      let offset = start;
      for await (const chunk of coalesce(stream as AsyncIterable<Buffer>, WRITE_BATCH_BYTES)) {
        const take = chunk.byteLength <= end + 1 - offset ? chunk : chunk.subarray(0, end + 1 - offset);
        await blob.write(offset, take);
        offset += take.byteLength;
        if (peerId) this.#c.stats.receivedFromPeer(peerId, take.byteLength);
        else this.#c.stats.receivedFromSeed(take.byteLength);
        if (offset > end) break;
      }
      if (offset <= end) throw new Error(`stream ended at byte ${offset} of piece ${index} (${start}-${end})`);
      this.#source.set(index, peerId ?? 'seed');
      this.#fromSeedNow.delete(index);
      this.#announce();
    } catch (error) {
      if (isDiskFull(error)) {
        // Our disk, not the source: no peer is to blame and no other source can help.
        this.#fatal ??= error;
        this.#wake?.();
      } else if (peerId) {
        const failed = this.#failedPeers.get(index) ?? new Set<string>();
        failed.add(peerId);
        this.#failedPeers.set(index, failed);
        this.#c.swarm.penalise(peerId, `piece ${index} of ${this.#want.digest.value} failed: ${(error as Error).message}`, PEER_FAILURE_PENALTY_MS);
        this.#c.logger.info({ digest: this.#want.digest.value, piece: index, peer: peerId, err: error }, 'peer failed a piece; it resumes from another source');
      } else {
        this.#seedErrors.push(error);
        this.#c.logger.warn({ digest: this.#want.digest.value, piece: index, err: error }, 'seed failed a piece');
      }
    } finally {
      stream?.destroy();
      if (this.#fromSeedNow.delete(index)) this.#announce();
      this.#active.delete(index);
      if (peerId) this.#perPeer.set(peerId, (this.#perPeer.get(peerId) ?? 1) - 1);
      else this.#seedActive -= 1;
    }
  }

  async #open(choice: Choice, range: ByteRange): Promise<Readable> {
    if (choice.kind === 'peer') return this.#c.peers.fetchRange(choice.holder.url, this.#want.digest, range);
    const opened = await this.#c.seed!.open(this.#want, range);
    if (!opened) throw new OciError('BLOB_UNKNOWN', `the seed does not have ${this.#want.digest.value}`);
    return opened.stream;
  }

  /** Nothing is running and nothing can be started: fail rather than wait forever. */
  #giveUpIfStuck(): void {
    const seedDown = this.#seedErrors.length >= 3 || !this.#c.seed;
    if (!seedDown) return;
    const anyHolder = this.#c.swarm.holders(this.#want.digest.value).length > 0;
    const anyWanter = this.#c.swarm.wanters(this.#want.digest.value).some((p) => p !== this.#c.swarm.peerId);
    if (anyHolder || (anyWanter && this.#seedErrors.length === 0)) return;
    const last = this.#seedErrors.at(-1);
    if (last instanceof OciError) throw last;
    throw new OciError('UNAVAILABLE', `no peer holds ${this.#want.digest.value} and the seed cannot serve it${last ? `: ${(last as Error).message}` : ''}`);
  }

  /** Compares every piece that came from a peer with the seed's copy; bans the peers whose bytes differ. */
  async #repair(): Promise<void> {
    const blob = this.#blob;
    const fromPeers = [...this.#source].filter(([, source]) => source !== 'seed');
    if (!this.#c.seed) {
      for (const [, peer] of fromPeers) this.#c.swarm.penalise(peer, 'contributed to a blob that failed verification', LIAR_BAN_MS);
      throw new OciError('DIGEST_INVALID', `blob ${this.#want.digest.value} failed verification and there is no seed to compare with`);
    }
    for (const [index, peer] of fromPeers) {
      const start = blob.pieceStart(index);
      const length = blob.pieceLength(index);
      const opened = await this.#c.seed.open(this.#want, { start, end: start + length - 1 });
      if (!opened) throw new OciError('BLOB_UNKNOWN', `the seed does not have ${this.#want.digest.value}`);
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of opened.stream as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        total += chunk.byteLength;
        if (total >= length) break;
      }
      opened.stream.destroy();
      const seedCopy = Buffer.concat(chunks).subarray(0, length);
      this.#c.stats.receivedFromSeed(seedCopy.byteLength);
      if (seedCopy.equals(await blob.readRange(start, length))) continue;
      this.#c.swarm.penalise(peer, `sent bytes of ${this.#want.digest.value} that failed verification`, LIAR_BAN_MS);
      this.#c.logger.warn({ digest: this.#want.digest.value, piece: index, peer }, 'peer sent corrupt bytes: banned, piece replaced with the seed copy');
      blob.resetPiece(index);
      await blob.write(start, seedCopy);
      this.#source.set(index, 'seed');
    }
  }
}
