// This host's piece engines, one per digest: created once however many callers ask at the same
// moment, woken by swarm news, forgotten when their blob is done, and — for piece caches kept only
// because peers asked this host as an owner — dropped after a while unused.
import type { Logger } from 'pino';
import type { Store } from '../store/index.ts';
import type { SwarmView } from '../swarm/index.ts';
import type { PeerData } from './peer-data.ts';
import { PieceEngine, type PieceEngineInit } from './piece-engine.ts';
import { seedReadFree, seedReadsLimited } from './piece-limits.ts';
import { DEFAULT_PIECE_SIZE } from './piece-size.ts';
import type { TransferLimits } from './rate-limit.ts';
import type { TransferStats } from './transfer-stats.ts';
import type { BlobSource, BlobWant } from './types.ts';
import { HostCrawls } from './crawling-transfer.ts';

/** Pieces this host fetched only because peers asked it as their owner are kept this long unused. */
export const DEFAULT_KEEP_PIECES_MS = 5 * 60_000;
const SWEEP_MS = 30_000;

export interface PieceEnginesInit extends PieceEngineInit {
  readonly pieceSize?: number;
  readonly keepPiecesMs?: number;
}

export interface PieceEnginesComponents {
  readonly store: Store;
  readonly logger: Logger;
  readonly stats: TransferStats;
  readonly limits: TransferLimits;
  /** The seed to ask for this repository's blobs, if it has one. */
  readonly seedFor: (want: BlobWant) => BlobSource | undefined;
  readonly swarm?: SwarmView;
  readonly peers?: PeerData;
  /** When this host's view of the swarm's membership can be trusted (PieceView.membershipSettled). */
  readonly membershipSettledAt: number;
}

export class PieceEngines {
  readonly #c: PieceEnginesComponents;
  readonly #init: PieceEnginesInit;
  readonly #engines = new Map<string, PieceEngine>();
  readonly #creating = new Map<string, Promise<PieceEngine>>();
  /** Seed reads on this host; one ending wakes every engine (the limit is host-wide). */
  readonly #crawls = new HostCrawls();
  readonly #seedReads = { running: 0, freed: (): void => this.#pokeAll(), asksWaiting: (): number => this.#asksWaiting() };
  /** Owner asks answered before their engine was ready (its size being checked): they wait for a seed read too. */
  #asksSettingUp = 0;
  #sweeper: NodeJS.Timeout | undefined;
  #subscribed = false;

  constructor(components: PieceEnginesComponents, init: PieceEnginesInit = {}) {
    this.#c = components;
    this.#init = init;
  }

  /** Whether one more seed read may start on this host now, for any blob, behind the owner asks waiting for one (seedReadFree). */
  seedReadsFree(): boolean {
    const peers = this.#c.swarm?.peers().length ?? 0;
    return seedReadFree(peers, this.#seedReads.running + (seedReadsLimited(peers) ? this.#asksWaiting() : 0));
  }

  /** An owner ask answered while its engine is being set up: it counts as waiting for a seed read until `setUp` (which hands it to the engine) settles. */
  settingUp(setUp: Promise<unknown>): void {
    this.#asksSettingUp += 1;
    const done = (): void => {
      this.#asksSettingUp -= 1;
    };
    setUp.then(done, done);
  }

  get(digest: string): PieceEngine | undefined {
    return this.#engines.get(digest);
  }

  all(): PieceEngine[] {
    return [...this.#engines.values()];
  }

  /** The engine for a digest, created once however many callers ask at the same moment. */
  engine(want: BlobWant, size: number): Promise<PieceEngine> {
    const key = want.digest.value;
    const existing = this.#engines.get(key);
    if (existing) return Promise.resolve(existing);
    const creating = this.#creating.get(key);
    if (creating) return creating;
    const created = this.#create(want, size).finally(() => this.#creating.delete(key));
    this.#creating.set(key, created);
    return created;
  }

  /**
   * A local client wants the whole blob: from now it counts as used disk with its full size (until
   * then, as a piece cache, with the bytes it holds), so a pull makes room before its bytes come.
   */
  fetchAll(engine: PieceEngine, want: BlobWant): Promise<void> {
    this.#c.store.blobs.countWhole(engine.partial);
    return engine.fetchAll(want);
  }

  /** Forgets the engine, fails its blob (its file is removed) and tells the swarm it is gone. */
  async drop(engine: PieceEngine, reason: Error): Promise<void> {
    if (this.#engines.get(engine.digest) === engine) this.#engines.delete(engine.digest);
    await engine.partial.fail(reason);
    this.#c.swarm?.announceWithdrawn(engine.partial.digest);
  }

  close(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  async #create(want: BlobWant, size: number): Promise<PieceEngine> {
    const { store, swarm } = this.#c;
    this.#subscribe();
    const partial = await store.blobs.createPartial(want.digest, size, this.#init.pieceSize ?? DEFAULT_PIECE_SIZE);
    const components = { swarm, seed: this.#c.seedFor(want), peers: this.#c.peers, stats: this.#c.stats, logger: this.#c.logger, membershipSettledAt: this.#c.membershipSettledAt, limits: this.#c.limits, seedReads: this.#seedReads, crawls: this.#crawls };
    const engine = new PieceEngine(partial, want, components, this.#init);
    const key = want.digest.value;
    this.#engines.set(key, engine);
    const forget = (): void => {
      if (this.#engines.get(key) === engine) this.#engines.delete(key);
    };
    partial.done().then(forget, forget);
    this.#sweeper ??= setInterval(() => void this.#sweep(), Math.min(SWEEP_MS, this.#init.keepPiecesMs ?? SWEEP_MS)).unref();
    return engine;
  }

  /** Swarm news wakes the engines at once (they also look every tick). */
  #subscribe(): void {
    const swarm = this.#c.swarm;
    if (this.#subscribed || !swarm) return;
    this.#subscribed = true;
    const poke = (event: { digest: string }): void => this.#engines.get(event.digest)?.poke();
    const pokeAll = (): void => this.#pokeAll();
    swarm.on('have', poke);
    swarm.on('progress', poke);
    swarm.on('withdrawn', poke);
    swarm.on('piece:taken', ({ peerId, digest, piece }) => this.#engines.get(digest)?.takeover.takenOver(piece, peerId));
    swarm.on('peer:joined', pokeAll);
    swarm.on('peer:left', pokeAll);
  }

  #asksWaiting(): number {
    let waiting = this.#asksSettingUp;
    for (const engine of this.#engines.values()) waiting += engine.seedAsksWaiting();
    return waiting;
  }

  #pokeAll(): void {
    for (const engine of this.#engines.values()) engine.poke();
  }

  /** Drops piece caches nobody has used for a while. */
  async #sweep(): Promise<void> {
    const keepMs = this.#init.keepPiecesMs ?? DEFAULT_KEEP_PIECES_MS;
    for (const engine of this.all()) {
      if (engine.wantsAll || !engine.idle || Date.now() - engine.lastActivity < keepMs) continue;
      await this.drop(engine, new Error('piece cache expired unused'));
    }
    if (this.#engines.size === 0 && this.#sweeper) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}
