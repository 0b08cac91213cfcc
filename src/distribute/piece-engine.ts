// One blob's scheduler. Over 300 lines on purpose: what it decides on (claims, demand from peers
// and local ranges, membership, the sources' failures) is one object's state. Its parts live
// beside it: the limits (piece-limits.ts), the transfer loop (piece-run.ts), the source choice
// (piece-choice.ts), progress (piece-progress.ts), owner asks (piece-demand.ts), claims
// (piece-transfers.ts), failures and seed health (piece-failures.ts) and repair after a failed
// verification (piece-repair.ts).
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { OciError, type ByteRange } from '../oci/index.ts';
import type { PartialBlob } from '../store/index.ts';
import { steadyNow } from '../lib/steady-clock.ts';
import type { Holder, SwarmView } from '../swarm/index.ts';
import type { PeerData } from './peer-data.ts';
import { choosePieceSource, type Member, type PieceChoice, type PieceView } from './piece-choice.ts';
import { CommitteeGate } from './committee-gate.ts';
import { peerPieceSource, seedPieceSource, type PieceSource } from './piece-source.ts';
import { repairFromSeed } from './piece-repair.ts';
import { PieceDemand } from './piece-demand.ts';
import { PieceFailures } from './piece-failures.ts';
import { PieceProgress } from './piece-progress.ts';
import { PieceTransfers, type Transfer } from './piece-transfers.ts';
import { classifyFailure, runTransfer } from './piece-run.ts';
import type { TransferLimits } from './rate-limit.ts';
import type { TransferStats } from './transfer-stats.ts';
import { activePieceLimit, DEFAULT_MAX_ACTIVE_PIECES, SEED_FIRST_PEER_PIECES, DEFAULT_MAX_PER_PEER, DEFAULT_MAX_SEED_PIECES, LIAR_BAN_MS, PEER_FAILURE_PENALTY_MS } from './piece-limits.ts';
import type { BlobSource, BlobWant } from './types.ts';

const TICK_MS = 250;

export interface PieceEngineComponents {
  readonly swarm: SwarmView | undefined;
  readonly seed: BlobSource | undefined;
  readonly peers: PeerData | undefined;
  readonly stats: TransferStats;
  readonly logger: Logger;
  /** When this host's view of the swarm's membership can be trusted (see PieceView.membershipSettled). */
  readonly membershipSettledAt?: number;
  /** Download and back-to-seed caps on the bytes this engine receives. */
  readonly limits?: TransferLimits;
  /** Seed reads running on this host, all its engines together. */
  readonly seedReads?: { running: number };
}

export interface PieceEngineInit {
  readonly maxActive?: number;
  readonly maxPerPeer?: number;
  readonly maxSeed?: number;
}

/**
 * One blob being assembled on this host, by the one piece engine every fetch goes through: a
 * client's pull (all pieces, then verify and commit), and peers asking this host, as a piece's
 * owner, for pieces it has not got (just those, from the seed, single-flight). Each piece comes
 * from where choosePieceSource says: a holder, the owner, or the seed; consecutive pieces this
 * host owns are read from the seed in one long range (a host alone reads the whole blob in one
 * request), and such a range stops at the first piece that stops being ours (a peer joined).
 */
export class PieceEngine {
  readonly partial: PartialBlob;
  readonly #c: PieceEngineComponents;
  readonly #maxActive: number;
  readonly #maxPerPeer: number;
  readonly #maxSeed: number;
  readonly #transfers: PieceTransfers;
  /** Repository (and ns) to ask the seed under: the local pull's, else the first owner ask's. */
  #want: BlobWant;
  #needAll = false;
  readonly #demand = new PieceDemand();
  /** Pieces a local client's Range read needs now: fetched first, from any source as any piece. */
  readonly #urgent = new PieceDemand();
  readonly #gate = new CommitteeGate();
  readonly #progress: PieceProgress;
  readonly #failures = new PieceFailures();
  /** Who filled each piece, for repair after a failed verification. */
  readonly #filledBy = new Map<number, string>();
  #fatal: unknown;
  #wake: (() => void) | undefined;
  #pump: Promise<void> | undefined;
  #whole: Promise<void> | undefined;
  lastActivity = Date.now();
  /** When bytes of this blob last arrived here (from any source), on the steady clock the committee gate runs on. */
  #receivedAt = 0;
  readonly bytes = { seed: 0, peers: 0 };
  readonly startedAt = Date.now();

  constructor(partial: PartialBlob, want: BlobWant, components: PieceEngineComponents, init: PieceEngineInit = {}) {
    this.partial = partial;
    this.#want = want;
    this.#c = components;
    this.#maxActive = init.maxActive ?? DEFAULT_MAX_ACTIVE_PIECES;
    this.#maxPerPeer = init.maxPerPeer ?? DEFAULT_MAX_PER_PEER;
    this.#maxSeed = init.maxSeed ?? DEFAULT_MAX_SEED_PIECES;
    this.#transfers = new PieceTransfers();
    this.#progress = new PieceProgress(components.swarm, partial);
  }

  get digest(): string {
    return this.partial.digest.value;
  }

  /** A local client wants the whole blob: fills every piece, verifies (repairing once) and commits. */
  fetchAll(want: BlobWant): Promise<void> {
    this.#want = want;
    if (this.#whole) return this.#whole;
    this.#needAll = true;
    this.#c.swarm?.announceWant(this.partial.digest);
    this.#whole = this.#runWhole().finally(() => this.#c.swarm?.cancelWant(this.partial.digest));
    return this.#whole;
  }

  get wantsAll(): boolean {
    return this.#needAll;
  }

  /** A failure no source can fix (the disk is full): this engine takes no more work. */
  get broken(): boolean {
    return this.#fatal !== undefined;
  }

  /** Nothing running and nobody reading: a kept piece cache may be dropped. */
  get idle(): boolean {
    return this.#pump === undefined && this.#transfers.size === 0 && this.partial.readers === 0;
  }

  /**
   * A peer asked this host for `range` as the owner of its pieces: the pieces missing here are
   * fetched (from a holder, else the seed, never from another owner) and the reader waits for them.
   */
  demand(range: ByteRange, asker: string, reader: Readable): void {
    this.lastActivity = Date.now();
    const first = Math.floor(range.start / this.partial.pieceSize);
    const last = Math.floor(range.end / this.partial.pieceSize);
    // A piece already coming (from the seed, a holder, or an owner we asked) is waited for. Asks
    // cannot go round in a circle: a host asks another only when it ranks higher for the piece,
    // and an asked owner goes to the seed, never on to another owner.
    for (let index = first; index <= last; index++) if (!this.partial.isPieceComplete(index)) this.#demand.add(index, asker, reader, range.start);
    this.#c.logger.debug({ digest: this.digest, first, last, asker, claimed: this.#transfers.claimOf(first)?.source.id }, 'owner asked');
    this.#ensurePump();
  }

  /**
   * A local client reads `range` (Range GET): the pieces covering it are fetched before anything
   * else, from a holder, their owner or the seed as any piece is, and `reader` fails at once if
   * they cannot be had. Nothing else of the blob is fetched for it.
   */
  need(range: ByteRange, reader: Readable): void {
    this.lastActivity = Date.now();
    const first = Math.floor(range.start / this.partial.pieceSize);
    const last = Math.floor(range.end / this.partial.pieceSize);
    for (let index = first; index <= last; index++) if (!this.partial.isPieceComplete(index)) this.#urgent.add(index, 'self', reader, range.start);
    this.#ensurePump();
  }

  /** Wakes the scheduler: the swarm changed (a holder, a peer joined or left). */
  poke(): void {
    this.#wake?.();
  }

  async #runWhole(): Promise<void> {
    this.#ensurePump();
    while (this.#pump) await this.#pump;
    if (this.#fatal !== undefined) throw this.#fatal;
    for (let attempt = 0; ; attempt++) {
      const result = await this.partial.commit();
      if (result.ok) return;
      this.#c.stats.verificationFailures += 1;
      this.#c.logger.warn({ digest: this.digest, actual: result.actual }, 'assembled blob failed verification; comparing peer pieces with the seed');
      if (attempt >= 1) throw new OciError('DIGEST_INVALID', `blob ${this.digest} still fails verification after repair (got ${result.actual})`);
      await repairFromSeed(this.partial, this.#want, this.#filledBy, this.#c, LIAR_BAN_MS, (bytes) => {
        this.bytes.seed += bytes;
      });
    }
  }

  #ensurePump(): void {
    if (this.#pump) return this.#wake?.();
    this.#pump = this.#loop()
      .catch((error: unknown) => {
        this.#fatal ??= error;
      })
      .finally(() => {
        this.#pump = undefined;
        // Work that arrived as the loop was ending (a demand, a local pull) starts it again.
        if (this.#fatal === undefined && this.#hasWork()) this.#ensurePump();
      });
  }

  #hasWork(): boolean {
    if (this.#needAll) return !this.partial.isComplete;
    return this.#openDemand().length > 0 || this.#urgent.open((index) => this.partial.isPieceComplete(index)).length > 0;
  }

  #openDemand(): number[] {
    return this.#demand.open((index) => this.partial.isPieceComplete(index));
  }

  async #loop(): Promise<void> {
    while (this.#hasWork() && this.#fatal === undefined) {
      const { started, waiting } = this.#schedule();
      if (this.#transfers.size === 0 && started === 0 && !waiting) this.#stuck();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, TICK_MS);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    await this.#transfers.settled();
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  /** Starts what can start, lowest piece first: a peer's asks first, then this host's own need. */
  #schedule(): { started: number; waiting: boolean } {
    const blob = this.partial;
    const demanded = this.#openDemand();
    const urgent = this.#urgent.open((index) => blob.isPieceComplete(index));
    const own = this.#needAll ? Array.from({ length: blob.pieceCount }, (_, i) => i) : [];
    let started = 0;
    let waiting = false;
    const peers = this.#c.swarm?.peers() ?? [];
    const context = this.#context(peers);
    // While this host reads from the seed, its peer transfers are few: they share its downlink with
    // those seed reads, which every other host waits for (see SEED_FIRST_PEER_PIECES).
    const maxActive = this.#c.seedReads?.running ? Math.min(SEED_FIRST_PEER_PIECES, this.#maxActive) : activePieceLimit(peers.length, this.#maxActive);
    for (const index of [...demanded, ...urgent, ...own]) {
      const isDemanded = this.#demand.has(index);
      // Seed reads are bounded by their own limit (maxSeed), not by this one.
      const peerSlotsFull = !isDemanded && this.#transfers.ownCount - this.#transfers.seedCount >= maxActive;
      if (blob.isPieceComplete(index) || this.#transfers.claimOf(index)) continue;
      const choice = this.#choose(index, context, isDemanded);
      if (peerSlotsFull && choice.kind !== 'seed') continue;
      if (choice.kind === 'wait') waiting = true;
      if (choice.kind === 'none') {
        const noSource = new OciError('BLOB_UNKNOWN', `no source for piece ${index} of ${this.digest}`);
        if (isDemanded) this.#demand.failed(index, noSource);
        else if (this.#urgent.has(index)) this.#urgent.failed(index, noSource);
        continue;
      }
      if (choice.kind === 'wait') continue;
      this.#start(this.#span(index, choice, context, isDemanded), choice, isDemanded);
      started += 1;
    }
    return { started, waiting };
  }

  #context(peers = this.#c.swarm?.peers() ?? []): { members: Map<string, Member>; selfId: string; committee?: readonly string[] } {
    const swarm = this.#c.swarm;
    const selfId = swarm?.peerId ?? 'self';
    // At scale only the blob's owner committee owns pieces (src/swarm/committee.ts), this host too.
    const committee = swarm?.ownerCommittee?.(this.partial.digest);
    const members = new Map<string, Member>(committee === undefined || committee.includes(selfId) ? [[selfId, { peerId: selfId, url: undefined }]] : []);
    if (swarm && this.#c.peers) {
      for (const peer of peers) {
        if (committee !== undefined && !committee.includes(peer.peerId)) continue;
        if (peer.url !== undefined && peer.pieceSize === this.partial.pieceSize) members.set(peer.peerId, { peerId: peer.peerId, url: peer.url });
      }
    }
    return { members, selfId, committee };
  }

  #choose(index: number, context: { members: Map<string, Member>; selfId: string; committee?: readonly string[] }, demanded: boolean, ignoreSeedSlots = false): PieceChoice {
    const blob = this.partial;
    const now = Date.now();
    const view: PieceView = {
      digest: this.digest,
      index,
      size: blob.size,
      pieceSize: blob.pieceSize,
      selfId: context.selfId,
      holders: this.#holders(index),
      members: context.members,
      failed: this.#failures.of(index),
      exclude: this.#demand.askers(index),
      demanded,
      seedUsable: this.#c.seed !== undefined && this.#failures.seedUsable,
      busyWith: (peerId) => (this.#failures.isBusy(peerId, now) ? Number.POSITIVE_INFINITY : this.#transfers.countFrom(peerId)),
      maxPerPeer: this.#maxPerPeer,
      // Pieces a peer asked us for as their owner do not queue behind our own seed transfers: the
      // asker would time out and go to the seed itself. They are bounded by the askers' limits.
      seedSlotFree: this.#failures.seedReady(now) && (ignoreSeedSlots || demanded || this.#transfers.seedCount < this.#maxSeed),
      membershipSettled: now >= (this.#c.membershipSettledAt ?? 0),
      balanceOwners: context.committee === undefined,
    };
    const choice = choosePieceSource(view);
    return context.committee === undefined || this.#gate.allows(view, choice, context.committee, steadyNow(), this.#receivedAt) ? choice : { kind: 'wait' };
  }

  /** Peers offering the blob; for a piece broken off here, only those that hold the whole blob (see PieceProgress.chainable). */
  #holders(index: number): readonly Holder[] {
    const holders = this.#c.peers ? (this.#c.swarm?.holders(this.partial.digest) ?? []) : [];
    return this.#progress.chainable(index) ? holders : holders.filter((h) => h.complete);
  }

  /**
   * The pieces one transfer covers. A host alone reads on from the seed to the end of the blob in
   * one request. With other members, one piece per request: a longer read cut short when a peer
   * joins wastes what the seed had already sent down the socket.
   */
  #span(index: number, choice: PieceChoice, context: { members: Map<string, Member>; selfId: string }, demanded: boolean): number[] {
    const pieces = [index];
    if (choice.kind !== 'seed' || context.members.size > 1) return pieces;
    for (let next = index + 1; next < this.partial.pieceCount; next++) {
      if (!this.#continuesSpan(next, context, demanded)) break;
      pieces.push(next);
    }
    return pieces;
  }

  #continuesSpan(index: number, context: { members: Map<string, Member>; selfId: string }, demanded: boolean): boolean {
    if (this.partial.pieceFilled(index) !== 0 || this.#transfers.claimOf(index)) return false;
    return this.#seedIsNext(index, context, demanded);
  }

  /** Whether a running seed read may go on into piece `index` (which it has claimed). */
  #stillOurs(index: number, demanded: boolean): boolean {
    return this.partial.pieceFilled(index) === 0 && this.#seedIsNext(index, this.#context(), demanded);
  }

  #seedIsNext(index: number, context: { members: Map<string, Member>; selfId: string }, demanded: boolean): boolean {
    const stillDemanded = this.#demand.has(index);
    if (demanded ? !stillDemanded : !(this.#needAll || this.#urgent.has(index))) return false;
    return this.#choose(index, context, stillDemanded, true).kind === 'seed';
  }

  #start(pieces: number[], choice: PieceChoice, demanded: boolean): void {
    const source = this.#sourceFor(choice);
    const transfer = this.#transfers.begin(source, pieces, demanded, this.#demand.from(pieces[0]!) ?? this.#urgent.from(pieces[0]!));
    const seedReads = choice.kind === 'seed' ? this.#c.seedReads : undefined;
    if (seedReads) seedReads.running += 1;
    const running = this.#run(transfer).finally(() => {
      if (seedReads) seedReads.running -= 1;
      this.#transfers.end(transfer);
      this.lastActivity = Date.now();
      this.#wake?.();
    });
    this.#transfers.track(transfer, running);
  }

  #sourceFor(choice: PieceChoice): PieceSource {
    const want = this.#want;
    if (choice.kind === 'seed') return seedPieceSource(this.#c.seed!, want, this.partial.size);
    if (choice.kind !== 'holder' && choice.kind !== 'owner') throw new Error(`no source for ${choice.kind}`);
    const ask = choice.kind === 'owner' ? { repository: want.name, ns: want.ns, size: this.partial.size, from: this.#c.swarm?.peerId } : undefined;
    return peerPieceSource(this.#c.peers!, choice, want, ask);
  }

  async #run(transfer: Transfer): Promise<void> {
    const limits = this.#c.limits?.incoming(transfer.source.kind === 'seed' ? 'seed' : 'peer') ?? [];
    const at = Date.now();
    let firstAt = 0;
    let openedAt = 0;
    let pacedMs = 0;
    let moved = 0;
    const failure = await runTransfer(this.partial, transfer, limits, {
      counted: (source, bytes) => {
        firstAt ||= Date.now();
        moved += bytes;
        this.#count(source, bytes);
        // A peer's bytes are landing: later askers may take the piece from here as it arrives.
        if (source.kind !== 'seed') this.#progress.arriving(transfer.pieces[0]!);
      },
      pieceDone: (index, source) => {
        this.#filledBy.set(index, source.id);
        this.#transfers.release(transfer, index);
        this.#demand.done(index);
        this.#urgent.done(index);
      },
      seedContinues: (index) => this.#stillOurs(index, transfer.demanded),
      arriving: (index) => this.#progress.arriving(index),
      announce: () => this.#progress.announce(),
      ended: (pieces) => this.#progress.ended(pieces),
      opened: () => (openedAt = Date.now()),
      paced: (ms) => (pacedMs += ms),
    });
    // One line per transfer: bench:fanout's --transfers timeline reads them.
    this.#c.logger.debug({ digest: this.digest, pieces: transfer.pieces, source: transfer.source.id, kind: transfer.source.kind, demanded: transfer.demanded, at, openedMs: openedAt && openedAt - at, firstMs: firstAt && firstAt - at, pacedMs: Math.round(pacedMs), ms: Date.now() - at, bytes: moved, failed: failure !== undefined }, 'piece transfer');
    if (!failure) return;
    this.#progress.brokeOff(transfer.pieces);
    this.#transferFailed(transfer, failure.error, failure.offset);
  }

  #count(source: PieceSource, bytes: number): void {
    this.#receivedAt = steadyNow();
    if (source.kind === 'seed') {
      this.bytes.seed += bytes;
      this.#c.stats.receivedFromSeed(bytes);
    } else {
      this.bytes.peers += bytes;
      this.#c.stats.receivedFromPeer(source.id, bytes);
    }
  }

  #transferFailed(transfer: Transfer, error: unknown, offset: number): void {
    const { source } = transfer;
    const index = Math.floor(offset / this.partial.pieceSize);
    const where = { digest: this.digest, piece: index, source: source.id, err: error };
    const kind = classifyFailure(error, source, transfer.controller.signal.aborted);
    switch (kind) {
      case 'stopped':
        return this.#c.logger.debug(where, 'piece transfer stopped');
      case 'disk-full':
        this.#fatal ??= error;
        this.#demand.failAll(() => error);
        return this.#urgent.failAll(() => error);
      case 'seed':
      case 'seed-final': {
        this.#failures.seedFailed(error, kind === 'seed-final');
        this.#c.logger.warn(where, 'seed transfer broke off; resuming with Range');
        for (const piece of transfer.pieces) if (this.#demand.has(piece) && !this.partial.isPieceComplete(piece)) this.#demand.failed(piece, error);
        return;
      }
      case 'busy':
        this.#failures.peerBusy(source.id);
        return this.#c.logger.debug(where, 'peer is busy; the piece is asked elsewhere or again shortly');
      case 'owner-refused':
        this.#failures.sourceFailed(index, source.id);
        return this.#c.logger.info(where, 'piece owner could not serve the piece; asking the next');
      case 'peer-failed':
        this.#failures.sourceFailed(index, source.id);
        this.#c.swarm?.penalise(source.id, `piece ${index} of ${this.digest} failed: ${(error as Error).message}`, PEER_FAILURE_PENALTY_MS);
        return this.#c.logger.info(where, 'peer failed a piece; it resumes from another source');
    }
  }

  /** Nothing runs and nothing can start: fail rather than wait forever. */
  #stuck(): void {
    const none = (index: number) => new OciError('UNAVAILABLE', `no source for piece ${index} of ${this.digest}`);
    this.#demand.failAll(none);
    this.#urgent.failAll(none);
    if (!this.#needAll) return;
    const last = this.#failures.lastSeedError;
    this.#fatal ??=
      last instanceof OciError
        ? last
        : new OciError('UNAVAILABLE', `no peer holds ${this.digest} and the seed cannot serve it${last ? `: ${(last as Error).message}` : ''}`);
  }
}
