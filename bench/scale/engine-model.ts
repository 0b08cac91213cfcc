// One host's piece engine in the simulation: the loop of src/distribute/piece-engine.ts
// (#schedule) re-stated on the virtual clock, with the real source choice (choosePieceSource) and
// the real serving caps (ServeSlots) inside. What is left out is said in model.ts (MODEL_NOTES).
import { choosePieceSource, type PieceChoice, type PieceView } from '../../src/distribute/piece-choice.ts';
import { committeeAllows } from '../../src/distribute/committee-gate.ts';
import { ServeSlots } from '../../src/distribute/serve-slots.ts';
import { activePieceLimit } from '../../src/distribute/piece-limits.ts';
import { leaveToOther } from './piece-spread.ts';
import { SEED } from './links.ts';
import type { World } from './world.ts';

export interface Transfer {
  readonly source: number;
  readonly kind: 'seed' | 'holder' | 'owner';
  readonly piece: number;
  readonly demanded: boolean;
}

const NO_PEERS: ReadonlySet<string> = new Set();

export class HostEngine {
  readonly index: number;
  readonly id: string;
  readonly complete: Uint8Array;
  completeCount = 0;
  needAll = false;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  /** The host's data-plane slots, shared by its engines for every blob. */
  readonly slots: ServeSlots;
  readonly bytes = { seed: 0, peers: 0 };
  readonly counts = { seedRequests: 0, holderAsks: 0, ownerAsks: 0, busyAnswers: 0, passes: 0, chooseCalls: 0, ownerWaits: 0, spreadWaits: 0 };
  readonly #w: World;
  readonly #claims = new Map<number, Transfer>();
  readonly #fromSource = new Map<number, number>();
  readonly #busyUntil = new Map<number, number>();
  /** Pieces peers asked this host for as their owner, with who asked. */
  readonly #demand = new Map<number, Set<number>>();
  /** Flows from this host waiting for a piece it does not have yet (owner asks, reads of a seed arrival). */
  readonly #waiters = new Map<number, Array<() => void>>();
  readonly #fromSeedNow = new Set<number>();
  /** When this host first left each piece to another host (piece-spread.ts leaveToOther, a design study the engine does not have). */
  readonly #leftSince = new Map<number, number>();
  /** Flows from this host waiting for the first bytes of a piece it has none of yet. */
  readonly #firstBytes = new Map<number, Array<() => void>>();
  /** Pieces held (complete or arriving from the seed) not yet told to peers. */
  #untold: number[] = [];
  /**
   * What this host would tell changed since it last told it (a piece began arriving or completed):
   * PieceProgress sends nothing when its bitfields are as last told, as after a busy answer.
   */
  #changed = false;
  #own = 0;
  #ownSeed = 0;
  #passPending = false;
  #lastPassAt = Number.NEGATIVE_INFINITY;
  #tickPending = false;
  hungry = false;

  /** Transfers running for this host's own need, and of those from the seed (the timeline's view). */
  claimOf(piece: number): Transfer | undefined {
    return this.#claims.get(piece);
  }

  get active(): { own: number; seed: number; claims: number } {
    return { own: this.#own, seed: this.#ownSeed, claims: this.#claims.size };
  }

  constructor(world: World, index: number, id: string, slots = new ServeSlots()) {
    this.#w = world;
    this.index = index;
    this.id = id;
    this.slots = slots;
    this.complete = new Uint8Array(world.pieceCount);
    this.slots.onChange((load) => world.loadChanged(this, load));
  }

  /** A client on this host pulls the blob (fetchAll): want, then every piece. */
  pull(): void {
    this.needAll = true;
    this.startedAt = this.#w.clock.now;
    this.#w.tell(this, 'want');
    this.wake();
  }

  /** The engine's wake(): one pass as soon as the host's last one is `passGapMs` old. */
  wake(): void {
    if (this.#passPending) return;
    this.#passPending = true;
    const clock = this.#w.clock;
    clock.after(Math.max(0, this.#lastPassAt + this.#w.params.passGapMs - clock.now), () => this.#pass());
  }

  #pass(): void {
    this.#passPending = false;
    this.#lastPassAt = this.#w.clock.now;
    this.counts.passes += 1;
    // The engine's limit for this host's connections (piece-engine.ts #schedule: swarm.peers()).
    const maxActive = activePieceLimit(this.#w.topology.connectionCount(this.index), this.#w.params.maxActive);
    let waiting = false;
    const demanded = [...this.#demand.keys()].filter((i) => this.complete[i] === 0).sort((a, b) => a - b);
    const order = this.needAll && this.finishedAt === undefined ? [...demanded, ...this.#w.pieceOrder(this.index)] : demanded;
    for (const index of order) {
      const isDemanded = this.#demand.has(index);
      if (!isDemanded && this.#own >= maxActive) break;
      if (this.complete[index] === 1 || this.#claims.has(index)) continue;
      const choice = this.#choose(index, isDemanded);
      if (choice.kind === 'wait' || choice.kind === 'none' || (!isDemanded && choice.kind !== 'seed' && this.#leaves(index))) {
        waiting = true;
        continue;
      }
      this.#start(index, choice, isDemanded);
    }
    const wantsMore = this.needAll && this.finishedAt === undefined && this.#own < maxActive;
    this.hungry = waiting && (wantsMore || demanded.some((i) => !this.#claims.has(i)));
    this.#w.hungerChanged(this);
    if (this.hungry && !this.#tickPending) {
      this.#tickPending = true;
      this.#w.clock.after(this.#w.params.tickMs, () => {
        this.#tickPending = false;
        if (this.hungry) this.wake();
      });
    }
  }

  /** The engine's #leaves: a piece one busy peer alone offers is left, for a moment, to the lacking host ranked first. */
  #leaves(index: number): boolean {
    const w = this.#w;
    const offers = w.holdersFor(this.index, index);
    if (offers.length !== 1 || (offers[0]!.load ?? 0) < 1 || w.params.spreadWaitMs === 0) return false;
    let since = this.#leftSince.get(index);
    if (since === undefined) this.#leftSince.set(index, (since = w.clock.now));
    const leaves = leaveToOther({ digest: w.digest, index, selfId: this.id, offering: 1, holderLoad: offers[0]!.load ?? 0, lacking: w.lackingFor(this.index, index), leftSince: since, now: w.clock.now }, w.params.spreadWaitMs);
    if (leaves) this.counts.spreadWaits += 1;
    return leaves;
  }

  #choose(index: number, demanded: boolean): PieceChoice {
    const w = this.#w;
    const now = w.clock.now;
    this.counts.chooseCalls += 1;
    const askers = this.#demand.get(index);
    const exclude = askers === undefined ? NO_PEERS : new Set([...askers].map((a) => w.ids[a]!));
    const members = w.ownerMembers(this.index, index, exclude.size);
    const holders = w.holdersFor(this.index, index);
    const view: PieceView = {
      digest: w.digest, index, size: w.size, pieceSize: w.pieceSize, selfId: this.id,
      holders,
      members, failed: NO_PEERS, exclude, demanded, seedUsable: true,
      busyWith: (peerId) => {
        const peer = w.indexOf(peerId);
        return (this.#busyUntil.get(peer) ?? 0) > now ? Number.POSITIVE_INFINITY : (this.#fromSource.get(peer) ?? 0);
      },
      maxPerPeer: w.params.maxPerPeer,
      seedSlotFree: demanded || this.#ownSeed < w.params.maxSeed,
      membershipSettled: true,
      balanceOwners: w.ownersBalanced(this.index),
    };
    const choice = choosePieceSource(view);
    // The engine's committee gate (piece-engine.ts #choose), as shoal runs it.
    const committee = w.topology.committeeIds;
    if (committee !== undefined && !committeeAllows(view, choice, committee)) {
      this.counts.ownerWaits += 1;
      return { kind: 'wait' };
    }
    return choice;
  }

  #start(index: number, choice: PieceChoice, demanded: boolean): void {
    const w = this.#w;
    const source = choice.kind === 'seed' ? SEED : w.indexOf((choice as { peerId: string }).peerId);
    const transfer: Transfer = { source, kind: choice.kind as Transfer['kind'], piece: index, demanded };
    this.#claims.set(index, transfer);
    this.#fromSource.set(source, (this.#fromSource.get(source) ?? 0) + 1);
    if (!demanded) this.#own += 1;
    if (!demanded && source === SEED) this.#ownSeed += 1;
    if (source === SEED) {
      this.counts.seedRequests += 1;
      // The seed's response opens after a round trip: the piece is "arriving" and told to peers.
      w.clock.after(w.params.seedRttMs, () => {
        this.#fromSeedNow.add(index);
        this.#untold.push(index);
        this.announce();
        this.#bytesLanded(index);
        w.links.start(SEED, this.index, w.pieceLength(index), () => this.#arrived(transfer));
      });
      return;
    }
    if (choice.kind === 'owner') this.counts.ownerAsks += 1;
    else this.counts.holderAsks += 1;
    w.clock.after(w.params.latencyMs, () => w.hosts[source]!.serve(index, this.index, choice.kind === 'owner', transfer));
  }

  /** A peer's request for a piece reaches this host's data plane. */
  serve(index: number, asker: number, ownerAsk: boolean, transfer: Transfer): void {
    const w = this.#w;
    const release = this.slots.acquire(`${w.digest}/${index}`);
    const requester = w.hosts[asker]!;
    if (release === undefined) {
      w.clock.after(w.params.latencyMs, () => requester.#busy(transfer));
      return;
    }
    if (this.complete[index] === 0 && ownerAsk) {
      const askers = this.#demand.get(index) ?? new Set<number>();
      askers.add(asker);
      this.#demand.set(index, askers);
      this.wake();
    }
    // Bytes flow as soon as this host has some (cut-through): a piece still arriving here is passed
    // on as it arrives, so the flow ends no sooner than this host has the whole piece. A piece with
    // no bytes here yet (an owner asked for one it has still to fetch) flows once its first bytes
    // land: before, the asker would tell peers of bytes it did not have, and a chain of such
    // asks could close into a circle where every host waits for the next (a stall the real engine,
    // which announces only bytes that landed, cannot have).
    const flow = (): void => {
      // The asker's first bytes land a hop later: it tells its peers it has the piece arriving.
      w.clock.after(w.params.latencyMs, () => requester.#receiving(transfer));
      w.links.start(this.index, asker, w.pieceLength(index), () => {
        const done = (): void => {
          release();
          w.clock.after(w.params.latencyMs, () => requester.#arrived(transfer));
        };
        if (this.complete[index] === 1) done();
        else this.#waitFor(index, done);
      });
    };
    if (this.complete[index] === 1 || this.#fromSeedNow.has(index)) flow();
    else this.#whenBytes(index, flow);
  }

  #whenBytes(index: number, then: () => void): void {
    const list = this.#firstBytes.get(index) ?? [];
    list.push(then);
    this.#firstBytes.set(index, list);
  }

  /** The piece's first bytes landed here (from the seed or a peer): flows waiting for them start. */
  #bytesLanded(index: number): void {
    const waiting = this.#firstBytes.get(index);
    if (waiting === undefined) return;
    this.#firstBytes.delete(index);
    for (const then of waiting) then();
  }

  /** PieceProgress.arriving for a peer transfer: its bytes flow, so peers may read the piece from here. */
  #receiving(transfer: Transfer): void {
    if (this.#claims.get(transfer.piece) !== transfer || this.complete[transfer.piece] === 1) return;
    this.#fromSeedNow.add(transfer.piece);
    this.#untold.push(transfer.piece);
    this.announce();
    this.#bytesLanded(transfer.piece);
  }

  #waitFor(index: number, then: () => void): void {
    const list = this.#waiters.get(index) ?? [];
    list.push(then);
    this.#waiters.set(index, list);
  }

  #busy(transfer: Transfer): void {
    this.counts.busyAnswers += 1;
    this.#busyUntil.set(transfer.source, this.#w.clock.now + this.#w.params.busyBackoffMs);
    this.#end(transfer);
  }

  #arrived(transfer: Transfer): void {
    const index = transfer.piece;
    const length = this.#w.pieceLength(index);
    if (transfer.source === SEED) this.bytes.seed += length;
    else this.bytes.peers += length;
    this.complete[index] = 1;
    this.completeCount += 1;
    this.#changed = true;
    if (!this.#fromSeedNow.has(index)) this.#untold.push(index);
    this.#demand.delete(index);
    this.#bytesLanded(index);
    for (const then of this.#waiters.get(index) ?? []) then();
    this.#waiters.delete(index);
    this.#end(transfer);
    // Then commit (verification time is not modelled), `have`, and the want withdrawn.
    if (this.needAll && this.finishedAt === undefined && this.completeCount === this.#w.pieceCount) {
      this.finishedAt = this.#w.clock.now;
      this.hungry = false;
      this.#w.hungerChanged(this);
      this.#w.tell(this, 'have');
      this.#w.tell(this, 'unwant');
    }
  }

  /** The transfer is over (piece done or busy): its claim goes, and the host tells its progress. */
  #end(transfer: Transfer): void {
    this.#claims.delete(transfer.piece);
    this.#fromSource.set(transfer.source, this.#fromSource.get(transfer.source)! - 1);
    if (!transfer.demanded) this.#own -= 1;
    if (!transfer.demanded && transfer.source === SEED) this.#ownSeed -= 1;
    this.#fromSeedNow.delete(transfer.piece);
    this.announce();
    this.wake();
  }

  /** PieceProgress.announce: complete pieces plus those arriving from the seed, to the peers. */
  announce(): void {
    if (!this.#changed && this.#untold.length === 0) return;
    this.#changed = false;
    const told = this.#untold;
    this.#untold = [];
    this.#w.tellProgress(this, told);
  }
}
