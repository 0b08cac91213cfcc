// Where each piece of one blob comes from, for its piece engine: the members that may own pieces,
// the view choosePieceSource decides on, how far one seed read goes on, the source to open, and
// what a source's failure means for the next choices.
import type { Logger } from 'pino';
import type { PartialBlob } from '../store/index.ts';
import { steadyNow } from '../lib/steady-clock.ts';
import type { Holder, SwarmView } from '../swarm/index.ts';
import { CommitteeGate } from './committee-gate.ts';
import type { PeerData } from './peer-data.ts';
import { choosePieceSource, holdsPieceComplete, ownerOrder, type Member, type PieceChoice, type PieceView } from './piece-choice.ts';
import type { PieceDemand } from './piece-demand.ts';
import type { PieceReaders } from './piece-readers.ts';
import type { PieceFailures } from './piece-failures.ts';
import { BUSY_GIVE_UP_MS, PEER_FAILURE_PENALTY_MS, seedReadFree, seedReadsLimited } from './piece-limits.ts';
import type { PieceProgress } from './piece-progress.ts';
import { peerPieceSource, seedPieceSource, type PieceSource } from './piece-source.ts';
import type { TransferFailure } from './piece-run.ts';
import type { PieceTransfers } from './piece-transfers.ts';
import type { BlobSource, BlobWant } from './types.ts';

/** The members that may own this blob's pieces, this host's id, and the owner committee at scale. */
export interface SourcingContext {
  readonly members: Map<string, Member>;
  readonly selfId: string;
  readonly committee?: readonly string[];
  /** Owner asks this host answered that wait for one of its limited seed reads (SeedReads.asksWaiting); 0 where the limit does not apply. */
  readonly asksWaiting: number;
}

/**
 * This host's seed reads, all its engines together: how many run, how every engine is woken when
 * one ends (the limit is host-wide), and how many owner asks it answered wait for one. Those go
 * before this host's own pieces: an asker that got its headers hears nothing until its piece's
 * read starts, and one that heard nothing for PEER_READ_IDLE_MS gives up on its owner and has the
 * piece read from the seed a second time (seed egress 1.0625 on a 8 Mbit/s seed, swarm-egress).
 */
export interface SeedReads {
  running: number;
  readonly freed?: () => void;
  readonly asksWaiting?: () => number;
}

/** What the engine knows that the choice reads: its blob, asks, failures, transfers, progress. */
export interface SourcingState {
  readonly partial: PartialBlob;
  readonly demand: PieceDemand;
  /** Peers reading pieces from this host as a holder's: no source for those pieces. */
  readonly readers: PieceReaders;
  readonly urgent: PieceDemand;
  readonly failures: PieceFailures;
  readonly transfers: PieceTransfers;
  readonly progress: PieceProgress;
  /** A local client wants the whole blob. */
  needAll(): boolean;
  /** When bytes of this blob last arrived here, on the steady clock (the committee gate's and the busy give-up's). */
  receivedAt(): number;
}

export interface SourcingComponents {
  readonly swarm: SwarmView | undefined;
  readonly seed: BlobSource | undefined;
  readonly peers: PeerData | undefined;
  readonly logger: Logger;
  /** When this host's view of the swarm's membership can be trusted (see PieceView.membershipSettled). */
  readonly membershipSettledAt?: number;
  /** Seed reads on this host, all its engines together. */
  readonly seedReads?: SeedReads;
}

export class PieceSourcing {
  readonly #s: SourcingState;
  readonly #c: SourcingComponents;
  readonly #maxPerPeer: number;
  readonly #maxSeed: number;
  readonly #gate = new CommitteeGate();

  constructor(state: SourcingState, components: SourcingComponents, limits: { readonly maxPerPeer: number; readonly maxSeed: number }) {
    this.#s = state;
    this.#c = components;
    this.#maxPerPeer = limits.maxPerPeer;
    this.#maxSeed = limits.maxSeed;
  }

  /** `withAsks` false: without the host's waiting owner asks (counting them asks every engine for its context). */
  context(peers = this.#c.swarm?.peers() ?? [], withAsks = true): SourcingContext {
    const swarm = this.#c.swarm;
    const selfId = swarm?.peerId ?? 'self';
    const blob = this.#s.partial;
    // At scale only the blob's owner committee owns pieces (src/swarm/committee.ts), this host too.
    const committee = swarm?.ownerCommittee?.(blob.digest);
    const members = new Map<string, Member>(committee === undefined || committee.includes(selfId) ? [[selfId, { peerId: selfId, url: undefined }]] : []);
    if (swarm && this.#c.peers) {
      for (const peer of peers) {
        if (committee !== undefined && !committee.includes(peer.peerId)) continue;
        if (peer.url !== undefined && peer.pieceSize === blob.pieceSize) members.set(peer.peerId, { peerId: peer.peerId, url: peer.url });
      }
    }
    const asksWaiting = withAsks && seedReadsLimited(members.size - 1) ? (this.#c.seedReads?.asksWaiting?.() ?? 0) : 0;
    return { members, selfId, committee, asksWaiting };
  }

  choose(index: number, context: SourcingContext, demanded: boolean, ignoreSeedSlots = false): PieceChoice {
    const { partial: blob, failures, transfers } = this.#s;
    const now = Date.now();
    const view: PieceView = {
      digest: blob.digest.value,
      index,
      size: blob.size,
      pieceSize: blob.pieceSize,
      selfId: context.selfId,
      holders: this.#holders(index),
      members: context.members,
      failed: failures.of(index),
      penalised: (peerId) => this.#c.swarm?.isPenalised?.(peerId) === true,
      exclude: this.#excluded(index),
      demanded,
      seedUsable: this.#c.seed !== undefined && failures.seedUsable,
      busyWith: (peerId) => (failures.isBusy(peerId, now) ? Number.POSITIVE_INFINITY : transfers.countFrom(peerId)),
      maxPerPeer: this.#maxPerPeer,
      // Pieces a peer asked us for as their owner do not queue behind this blob's own seed
      // transfers (they are bounded by the askers' limits); in a small swarm they share the host's
      // seed reads with them, and an ask that would wait for those is answered busy (askWouldWait).
      seedSlotFree: failures.seedReady(now) && (ignoreSeedSlots || ((demanded || transfers.seedCount < this.#maxSeed) && this.hostSeedReadFree(context, !demanded))),
      membershipSettled: now >= (this.#c.membershipSettledAt ?? 0),
      takenBy: failures.takenByOf(index),
      balanceOwners: context.committee === undefined,
    };
    const choice = choosePieceSource(view);
    return context.committee === undefined || this.#gate.allows(view, choice, context.committee, steadyNow(), this.#s.receivedAt()) ? choice : { kind: 'wait' };
  }

  /**
   * Whether an owner ask for piece `first` would wait for a seed read to free up: the piece is not
   * here, not coming, and this host's seed reads are all taken or spoken for by asks answered
   * before it (seedReadFree). Such an ask is answered busy, not queued: a queued asker hears
   * nothing for as long as the reads before it take, gives up on its owner and the piece is read
   * from the seed twice (4 hosts × 20 Mbit/s, 256 MiB: seed egress 1.187). Told busy, it asks
   * again shortly and never goes to the seed.
   */
  askWouldWait(first: number): boolean {
    if (this.#s.partial.isPieceComplete(first) || this.#s.transfers.claimOf(first)) return false;
    const context = this.context();
    const choice = this.choose(first, context, true);
    return choice.kind === 'wait' || (choice.kind === 'seed' && !this.hostSeedReadFree(context, true));
  }

  /** Owner asks of this blob waiting for a seed read (SeedReads.asksWaiting): no holder has them, nothing fetches them yet. */
  seedAsksWaiting(): number {
    const { partial, transfers } = this.#s;
    const open = this.#s.demand.open((index) => partial.isPieceComplete(index));
    if (open.length === 0) return 0;
    const context = this.context(undefined, false);
    return open.filter((index) => !transfers.claimOf(index) && this.choose(index, context, true, true).kind === 'seed').length;
  }

  /** Whether this host may start one more seed read: behind the owner asks waiting for one (`behindAsks`), or among them. */
  hostSeedReadFree(context: SourcingContext, behindAsks: boolean): boolean {
    const running = this.#c.seedReads?.running ?? 0;
    return seedReadFree(context.members.size - 1, running + (behindAsks ? context.asksWaiting : 0));
  }

  /**
   * The pieces one transfer covers. A host alone reads on from the seed to the end of the blob in
   * one request. With other members, one piece per request: a longer read cut short when a peer
   * joins wastes what the seed had already sent down the socket.
   */
  span(index: number, choice: PieceChoice, context: SourcingContext, demanded: boolean): number[] {
    const pieces = [index];
    if (choice.kind !== 'seed' || context.members.size > 1) return pieces;
    for (let next = index + 1; next < this.#s.partial.pieceCount; next++) {
      if (this.#s.partial.pieceFilled(next) !== 0 || this.#s.transfers.claimOf(next) || !this.#seedIsNext(next, context, demanded)) break;
      pieces.push(next);
    }
    return pieces;
  }

  /** Whether a running seed read may go on into piece `index` (which it has claimed). */
  stillOurs(index: number, demanded: boolean): boolean {
    return this.#s.partial.pieceFilled(index) === 0 && this.#seedIsNext(index, this.context(), demanded);
  }

  /** The source a choice for piece `index` names, asking for the blob as `want`. */
  source(choice: PieceChoice, want: BlobWant, index: number): PieceSource {
    if (choice.kind === 'seed') return seedPieceSource(this.#c.seed!, want, this.#s.partial.size);
    if (choice.kind !== 'holder' && choice.kind !== 'owner') throw new Error(`no source for ${choice.kind}`);
    const from = this.#c.swarm?.peerId;
    const skip = this.#s.failures.stalledOwnerOf(index);
    const ask = choice.kind === 'owner' ? { repository: want.name, ns: want.ns, size: this.#s.partial.size, from, skip } : undefined;
    return peerPieceSource(this.#c.peers!, choice, want, ask, from);
  }

  /** A source failed piece `index` (see classifyFailure): remembered for the next choices. */
  failed(kind: Exclude<TransferFailure, 'disk-full'>, source: PieceSource, index: number, error: unknown): void {
    const where = { digest: this.#s.partial.digest.value, piece: index, source: source.id, err: error };
    const { failures } = this.#s;
    switch (kind) {
      case 'stopped':
        return this.#c.logger.debug(where, 'piece transfer stopped');
      case 'seed':
      case 'seed-final':
        failures.seedFailed(error, kind === 'seed-final');
        return this.#c.logger.warn(where, 'seed transfer broke off; resuming with Range');
      case 'busy':
        // A member that took this piece over holds a claim on it, and has no reason to answer busy either.
        if (failures.peerBusy(source.id) < BUSY_GIVE_UP_MS || steadyNow() - this.#s.receivedAt() < BUSY_GIVE_UP_MS || (source.kind !== 'holder' && failures.takenByOf(index) !== source.id)) return this.#c.logger.debug(where, 'peer is busy; the piece is asked elsewhere or again shortly');
        failures.sourceFailed(index, source.id);
        this.#c.swarm?.penalise(source.id, `answered only busy to asks for ${where.digest} for ${BUSY_GIVE_UP_MS / 1000} s while no byte of it came from anywhere`, PEER_FAILURE_PENALTY_MS);
        return this.#c.logger.warn(where, `a peer holding the blob answered only busy for ${BUSY_GIVE_UP_MS / 1000} s while the pull got nothing; it is penalised and the piece asked elsewhere`);
      case 'owner-refused':
        failures.sourceFailed(index, source.id);
        return this.#c.logger.info(where, 'piece owner could not serve the piece; asking the next');
      case 'relay-broke':
        failures.sourceFailed(index, source.id);
        return this.#c.logger.info(where, 'a peer relaying the piece lost its own source; it resumes from another');
      case 'peer-failed':
        failures.sourceFailed(index, source.id);
        this.#c.swarm?.penalise(source.id, `piece ${index} of ${where.digest} failed: ${(error as Error).message}`, PEER_FAILURE_PENALTY_MS);
        return this.#c.logger.info(where, 'peer failed a piece; it resumes from another source');
    }
  }

  /** Peers this host has penalised (failed or slow transfers) and not yet forgiven. */
  penalisedPeers(): number {
    const swarm = this.#c.swarm;
    return swarm?.isPenalised === undefined ? 0 : swarm.peers().filter((peer) => swarm.isPenalised!(peer.peerId)).length;
  }

  /** This host's id in the swarm. */
  get selfId(): string {
    return this.#c.swarm?.peerId ?? 'self';
  }

  /** Whether `peerId` may own this blob's pieces as this host sees the members now. */
  isMember(peerId: string): boolean {
    return this.context(undefined, false).members.has(peerId);
  }

  /** The owner of piece `index` as this host sees the members now. */
  owner(index: number): string | undefined {
    const { digest, size, pieceSize } = this.#s.partial;
    const context = this.context(undefined, false);
    return ownerOrder({ digest: digest.value, index, size, pieceSize, members: context.members, balanceOwners: context.committee === undefined })[0];
  }

  /**
   * The peers that asked this host for piece `index` as its owner, or read it from here now (what
   * they have of it came from here), and its owner if it stalled (crawling-transfer.ts).
   */
  #excluded(index: number): ReadonlySet<string> {
    const askers = this.#s.demand.askers(index);
    const readers = this.#s.readers.of(index);
    const stalled = this.#s.failures.stalledOwnerOf(index);
    if (readers.size === 0 && stalled === undefined) return askers;
    return new Set([...askers, ...readers, ...(stalled === undefined ? [] : [stalled])]);
  }

  /**
   * Whether a peer other than `from` holds piece `index` complete and is free to serve it now (a
   * crawling transfer from `from` moves there: crawling-transfer.ts).
   */
  completeHolderFree(index: number, from: string): boolean {
    const { partial: blob, failures, transfers } = this.#s;
    const failed = failures.of(index);
    const excluded = this.#excluded(index);
    const now = Date.now();
    return this.#holders(index).some(
      (h) => h.peerId !== from && !failed.has(h.peerId) && !excluded.has(h.peerId) && holdsPieceComplete(h, index, blob.size, blob.pieceSize) && !failures.isBusy(h.peerId, now) && transfers.countFrom(h.peerId) < this.#maxPerPeer,
    );
  }

  /**
   * Peers offering the blob. For a piece broken off here (see PieceProgress.chainable) or moved off
   * a crawling source, only those holding it complete (and not the sources it was moved off).
   */
  #holders(index: number): readonly Holder[] {
    const holders: readonly Holder[] = this.#c.peers ? (this.#c.swarm?.holders(this.#s.partial.digest) ?? []) : [];
    const movedOff = this.#s.failures.movedOffOf(index);
    if (movedOff === undefined && this.#s.progress.chainable(index)) return holders;
    const { size, pieceSize } = this.#s.partial;
    return holders.filter((h) => holdsPieceComplete(h, index, size, pieceSize) && movedOff?.has(h.peerId) !== true);
  }

  #seedIsNext(index: number, context: SourcingContext, demanded: boolean): boolean {
    const stillDemanded = this.#s.demand.has(index);
    if (demanded ? !stillDemanded : !(this.#s.needAll() || this.#s.urgent.has(index))) return false;
    return this.choose(index, context, stillDemanded, true).kind === 'seed';
  }
}
