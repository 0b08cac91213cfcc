// One blob's scheduler. Its parts live beside it: limits, the transfer loop (piece-run.ts), where each
// piece comes from (piece-sourcing/-choice/-takeover.ts), progress, asks, readers, claims, failures and
// seed health (piece-*.ts, transfer-failure.ts), crawls (crawling-transfer.ts), repair (piece-repair.ts).
import type { Readable } from 'node:stream';
import { OciError, type ByteRange } from '../oci/index.ts';
import type { PartialBlob } from '../store/index.ts';
import { steadyNow } from '../lib/steady-clock.ts';
import type { PieceChoice } from './piece-choice.ts';
import type { PieceSource } from './piece-source.ts';
import { PieceSourcing, type SourcingComponents } from './piece-sourcing.ts';
import { commitOrRepair } from './piece-repair.ts';
import { PieceDemand } from './piece-demand.ts';
import { PieceReaders } from './piece-readers.ts';
import { PieceFailures } from './piece-failures.ts';
import { PieceProgress } from './piece-progress.ts';
import { PieceTransfers, type Transfer } from './piece-transfers.ts';
import { CrawlWatch, type HostCrawls } from './crawling-transfer.ts';
import { PieceTakeover } from './piece-takeover.ts';
import { logTransfer, runTransfer } from './piece-run.ts';
import { transferFailed } from './transfer-failure.ts';
import type { TransferLimits } from './rate-limit.ts';
import type { TransferStats } from './transfer-stats.ts';
import { peerPieceLimit, seedReadsFirst, DEFAULT_MAX_ACTIVE_PIECES, DEFAULT_MAX_PER_PEER, DEFAULT_MAX_SEED_PIECES } from './piece-limits.ts';
import type { BlobWant } from './types.ts';

const TICK_MS = 250;

export interface PieceEngineComponents extends SourcingComponents {
  readonly stats: TransferStats;
  /** Download and back-to-seed caps on the bytes this engine receives. */
  readonly limits?: TransferLimits;
  /** This host's crawling transfers, all its engines together (crawling-transfer.ts). */
  readonly crawls?: HostCrawls;
}

export interface PieceEngineInit { readonly maxActive?: number; readonly maxPerPeer?: number; readonly maxSeed?: number }

/**
 * One blob being assembled on this host, by the one piece engine every fetch goes through: a
 * client's pull (all pieces, then verify and commit), and peers asking this host, as a piece's
 * owner, for pieces it has not got (just those, single-flight). Each piece comes from where
 * choosePieceSource says: a holder, the owner, or the seed; consecutive pieces this host owns are
 * read from the seed in one long range, which stops at the first piece no longer ours.
 */
export class PieceEngine {
  readonly partial: PartialBlob;
  readonly digest: string;
  readonly #c: PieceEngineComponents;
  readonly #maxActive: number;
  readonly #transfers = new PieceTransfers();
  readonly #sourcing: PieceSourcing;
  /** Repository (and ns) to ask the seed under: the local pull's, else the first owner ask's. */
  #want: BlobWant;
  #needAll = false;
  readonly #demand = new PieceDemand();
  /** Peers reading pieces from here as a holder's (not as their owner's): no source for those pieces. */
  readonly readers = new PieceReaders();
  /** Pieces a local client's Range read needs now: fetched first, from any source as any piece. */
  readonly #urgent = new PieceDemand();
  readonly #progress: PieceProgress;
  readonly #failures = new PieceFailures();
  readonly #crawls: CrawlWatch;
  /** Told when a peer reads a piece this host owns from the seed (a read it stops wakes the scheduler as it ends). */
  readonly takeover: PieceTakeover;
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
    this.digest = partial.digest.value;
    this.#want = want;
    this.#c = components;
    this.#maxActive = init.maxActive ?? DEFAULT_MAX_ACTIVE_PIECES;
    this.#progress = new PieceProgress(components.swarm, partial);
    const state = { partial, demand: this.#demand, readers: this.readers, urgent: this.#urgent, failures: this.#failures, transfers: this.#transfers, progress: this.#progress, needAll: () => this.#needAll, receivedAt: () => this.#receivedAt };
    this.#sourcing = new PieceSourcing(state, components, { maxPerPeer: init.maxPerPeer ?? DEFAULT_MAX_PER_PEER, maxSeed: init.maxSeed ?? DEFAULT_MAX_SEED_PIECES });
    const parts = { partial, transfers: this.#transfers, sourcing: this.#sourcing, failures: this.#failures, logger: components.logger };
    this.#crawls = new CrawlWatch({ ...parts, host: components.crawls });
    this.takeover = new PieceTakeover({ ...parts, swarm: components.swarm });
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
   * A peer asked this host, as their owner, for the pieces of `range` missing here: from a holder, else the seed, never another owner. One
   * coming is waited for, unless from the asker (its source broke off) or from `skip` (OwnerAsk.skip; taken first: PieceTakeover).
   */
  demand(range: ByteRange, asker: string, reader: Readable, skip?: string): void {
    const first = Math.floor(range.start / this.partial.pieceSize);
    if (skip !== undefined && this.#failures.skipStalledOwner(first, skip, this.#sourcing.owner(first))) this.#transfers.claimFrom(first, skip)?.controller.abort(new Error(`${asker} found ${skip} stalled on the piece`));
    this.#ask(this.#demand, range, asker, reader);
    this.#c.logger.debug({ digest: this.digest, first, asker, skip, claimed: this.#transfers.claimOf(first)?.source.id }, 'owner asked');
    this.#transfers.claimFrom(first, asker)?.controller.abort(new Error(`${asker} asks for the piece it was sending`));
  }

  /** A peer reads `range` as a holder's bytes; refused (thrown, before any header) if this host gets that piece from it. */
  read(range: ByteRange, peer: string, reader: Readable): void {
    this.readers.add(range, this.partial.pieceSize, peer, reader);
    if (!this.#transfers.claimFrom(Math.floor(range.start / this.partial.pieceSize), peer)) return;
    reader.destroy();
    throw new OciError('BLOB_UNKNOWN', `this host gets that piece of ${this.digest} from ${peer}; read it elsewhere`);
  }

  /** A local client reads `range` (Range GET): its pieces are fetched first, from any source as any piece (nothing else for it); `reader` fails at once if they cannot be had. */
  need(range: ByteRange, reader: Readable): void {
    this.#ask(this.#urgent, range, 'self', reader);
  }

  /** Whether an owner ask for `range` would wait for a seed read: it is answered busy (PieceSourcing.askWouldWait). */
  askWouldWait(range: ByteRange): boolean {
    return this.#sourcing.askWouldWait(Math.floor(range.start / this.partial.pieceSize));
  }

  /** Owner asks of this blob waiting for a seed read (PieceSourcing.seedAsksWaiting). */
  seedAsksWaiting(): number {
    return this.#sourcing.seedAsksWaiting();
  }

  /** Adds the missing pieces covering `range` to `asks` and wakes the scheduler. */
  #ask(asks: PieceDemand, range: ByteRange, asker: string, reader: Readable): void {
    this.lastActivity = Date.now();
    const last = Math.floor(range.end / this.partial.pieceSize);
    for (let index = Math.floor(range.start / this.partial.pieceSize); index <= last; index++) if (!this.partial.isPieceComplete(index)) asks.add(index, asker, reader, range.start);
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
    await commitOrRepair(this.partial, this.#want, this.#filledBy, this.#c, (bytes) => void (this.bytes.seed += bytes));
  }

  #ensurePump(): void {
    if (this.#pump) return this.#wake?.();
    this.#pump = this.#loop()
      .catch((error: unknown) => void (this.#fatal ??= error))
      .finally(() => {
        this.#pump = undefined;
        // Work that arrived as the loop was ending (a demand, a local pull) starts it again.
        if (this.#fatal === undefined && this.#hasWork()) this.#ensurePump();
      });
  }

  #hasWork(): boolean {
    if (this.#needAll) return !this.partial.isComplete;
    return this.#open(this.#demand).length > 0 || this.#open(this.#urgent).length > 0;
  }

  /** The pieces `asks` still wants, lowest first. */
  #open(asks: PieceDemand): number[] {
    return asks.open((index) => this.partial.isPieceComplete(index));
  }

  async #loop(): Promise<void> {
    while (this.#hasWork() && this.#fatal === undefined) {
      this.#crawls.moveCrawling();
      const { started, waiting } = this.#schedule();
      if (this.#transfers.size === 0 && started === 0 && !waiting) this.#stuck();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, TICK_MS);
        this.#wake = () => void (clearTimeout(timer), resolve());
      });
      this.#wake = undefined;
    }
    await this.#transfers.settled();
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  /** Starts what can start, lowest piece first: a peer's asks first, then this host's own need. */
  #schedule(): { started: number; waiting: boolean } {
    const blob = this.partial;
    const demanded = this.#open(this.#demand);
    const urgent = this.#open(this.#urgent);
    const own = this.#needAll ? Array.from({ length: blob.pieceCount }, (_, i) => i) : [];
    let started = 0;
    let waiting = false;
    const peers = this.#c.swarm?.peers() ?? [];
    const context = this.#sourcing.context(peers);
    // Beside this host's seed reads, which every other host waits for, few peer transfers share its
    // downlink in a small swarm (peerPieceLimit); the seed reads then have their own limit (maxSeed).
    const seedFirst = seedReadsFirst(peers.length, this.#c.seedReads?.running ?? 0);
    const maxActive = peerPieceLimit(peers.length, this.#c.seedReads?.running ?? 0, this.#maxActive);
    for (const index of [...demanded, ...urgent, ...own]) {
      const isDemanded = this.#demand.has(index);
      const full = !isDemanded && this.#transfers.ownCount - (seedFirst ? this.#transfers.seedCount : 0) >= maxActive;
      if (full && !seedFirst) break;
      if (blob.isPieceComplete(index) || this.#transfers.claimOf(index)) continue;
      const choice = this.#sourcing.choose(index, context, isDemanded);
      if (full && choice.kind !== 'seed') continue;
      if (choice.kind === 'wait') waiting = true;
      if (choice.kind === 'none') {
        const noSource = new OciError('BLOB_UNKNOWN', `no source for piece ${index} of ${this.digest}`);
        if (isDemanded) this.#demand.failed(index, noSource);
        else if (this.#urgent.has(index)) this.#urgent.failed(index, noSource);
        continue;
      }
      if (choice.kind === 'wait') continue;
      this.#start(this.#sourcing.span(index, choice, context, isDemanded), choice, isDemanded);
      started += 1;
    }
    return { started, waiting };
  }

  #start(pieces: number[], choice: PieceChoice, demanded: boolean): void {
    const source = this.#sourcing.source(choice, this.#want, pieces[0]!);
    const transfer = this.#transfers.begin(source, pieces, demanded, this.#demand.from(pieces[0]!) ?? this.#urgent.from(pieces[0]!));
    const seedReads = choice.kind === 'seed' ? this.#c.seedReads : undefined;
    if (choice.kind === 'seed') this.takeover.seedReadStarts(pieces[0]!);
    if (seedReads) seedReads.running += 1;
    const running = this.#run(transfer).finally(() => {
      if (seedReads) seedReads.running -= 1;
      this.#transfers.end(transfer);
      this.lastActivity = Date.now();
      this.#wake?.();
      // The host-wide seed slot it held may start another blob's read at once.
      seedReads?.freed?.();
    });
    this.#transfers.track(transfer, running);
  }

  async #run(transfer: Transfer): Promise<void> {
    const limits = this.#c.limits?.incoming(transfer.source.kind === 'seed' ? 'seed' : 'peer') ?? [];
    const { failure, timing } = await runTransfer(this.partial, transfer, limits, {
      counted: (source, bytes) => {
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
      seedContinues: (index) => this.#sourcing.stillOurs(index, transfer.demanded),
      arriving: (index) => this.#progress.arriving(index),
      announce: () => this.#progress.announce(),
      // A transfer's pace counts at its end too: a fast one may end between two ticks.
      ended: (pieces) => (this.#crawls.ended(transfer), this.#progress.ended(pieces)),
    });
    logTransfer(this.#c.logger, this.digest, transfer, { failure, timing });
    if (!failure) return;
    this.#progress.brokeOff(transfer.pieces);
    const fatal = transferFailed({ partial: this.partial, sourcing: this.#sourcing, demand: this.#demand, urgent: this.#urgent, readers: this.readers }, transfer, failure.error, failure.offset);
    if (fatal !== undefined) this.#fatal ??= fatal;
  }

  #count(source: PieceSource, bytes: number): void {
    this.#receivedAt = steadyNow();
    this.bytes[source.kind === 'seed' ? 'seed' : 'peers'] += bytes;
    if (source.kind !== 'seed') return void (this.#failures.peerSent(source.id), this.#c.stats.receivedFromPeer(source.id, bytes));
    this.#c.stats.receivedFromSeed(bytes);
    this.#failures.seedAnswered();
  }

  /** Nothing runs and nothing can start: fail rather than wait forever. */
  #stuck(): void {
    const none = (index: number) => new OciError('UNAVAILABLE', `no source for piece ${index} of ${this.digest}`);
    this.#demand.failAll(none);
    this.#urgent.failAll(none);
    if (this.#needAll) this.#fatal ??= this.#failures.noSource(this.digest);
  }
}
