// The three ways into this host's piece engines (piece-engines.ts keeps them, one per digest): a
// client's whole pull, a client's range (range-first), and a peer's read or owner ask.
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { OciError, isValidRepositoryName, type ByteRange, type Digest } from '../oci/index.ts';
import type { PartialBlob, Store } from '../store/index.ts';
import type { SwarmView } from '../swarm/index.ts';
import { BlobSizeHints, resolveBlobSize } from './blob-size.ts';
import { sizeVouched } from './size-vouch.ts';
import type { OwnerAsk, PeerData } from './peer-data.ts';
import type { PieceEngine } from './piece-engine.ts';
import { PieceEngines, type PieceEnginesInit } from './piece-engines.ts';
import { CLIENT_READ_IDLE_MS, PEER_READ_IDLE_MS } from './read-idle.ts';
import { TransferStats } from './transfer-stats.ts';
import { TransferLimits } from './rate-limit.ts';
import { RANGE_FETCH_DEFAULT, coveringPiecesDone, wholeRange, type RangeFetch } from './range-first.ts';
import { RemoteSizes } from './remote-sizes.ts';
import type { BlobSource, BlobWant, PeerRead, UpstreamRouter } from './types.ts';

/** For this long after start a host may not have met every member (mDNS, then peer exchange, take a
 * second or two): it fetches from the seed only pieces nobody else could own. */
export const DEFAULT_MEMBERSHIP_SETTLE_MS = 2_000;

export interface FetcherInit extends PieceEnginesInit {
  readonly membershipSettleMs?: number;
  /** After a Range read's covering pieces: fetch the rest of the blob too (fetch-all), or not. */
  readonly rangeFetch?: RangeFetch;
}

export interface FetcherComponents {
  readonly store: Store;
  /** The seed registries, asked for repositories the router maps to an upstream. */
  readonly seed: BlobSource;
  readonly router: UpstreamRouter;
  readonly logger: Logger;
  readonly swarm?: SwarmView;
  readonly peers?: PeerData;
  readonly stats?: TransferStats;
  readonly sizes?: BlobSizeHints;
  readonly limits?: TransferLimits;
}

/**
 * One fetch per digest per host, all through the one piece engine (PieceEngine). The first request
 * for a missing blob starts the fetch; every other joins it and reads the bytes as they land. The
 * fetch belongs to nobody: it finishes, verifies and commits even when every client has gone
 * away. Peers asking this host as a piece's owner get that piece fetched on demand and kept for a
 * while (a piece cache, in the temp directory, counted in the disk accounting by the bytes it holds).
 */
export class Fetcher {
  readonly stats: TransferStats;
  readonly sizes: BlobSizeHints;
  readonly limits: TransferLimits;
  readonly #c: FetcherComponents;
  readonly #init: FetcherInit;
  readonly #engines: PieceEngines;
  readonly #verifying = new Map<string, Promise<PieceEngine>>();
  readonly #whole = new Map<string, Promise<PartialBlob | undefined>>();
  /** Whether another source has a blob not stored here, and its size: for a HEAD. */
  readonly remote: RemoteSizes;

  constructor(components: FetcherComponents, init: FetcherInit = {}) {
    this.#c = components;
    this.#init = init;
    this.stats = components.stats ?? new TransferStats();
    this.sizes = components.sizes ?? new BlobSizeHints();
    this.limits = components.limits ?? new TransferLimits();
    const membershipSettledAt = components.swarm ? Date.now() + (init.membershipSettleMs ?? DEFAULT_MEMBERSHIP_SETTLE_MS) : 0;
    const { store, logger, swarm, peers } = components;
    const seedFor = (want: BlobWant): BlobSource | undefined => (this.isSeeded(want) ? components.seed : undefined);
    this.remote = new RemoteSizes(swarm, seedFor);
    this.#engines = new PieceEngines({ store, logger, swarm, peers, seedFor, stats: this.stats, limits: this.limits, membershipSettledAt }, init);
  }

  get inflightCount(): number {
    return this.#whole.size;
  }

  /** The running fetch of `digest` for a client here, if any. */
  joinable(digest: Digest): Promise<PartialBlob | undefined> | undefined {
    return this.#whole.get(digest.value);
  }

  /** Blobs being filled now (whole fetches and piece caches). */
  inflight(): PartialBlob[] {
    return this.#engines.all().map((e) => e.partial);
  }

  /** The blob being filled here, if any (the peer data plane serves its pieces). */
  partial(digest: Digest): PartialBlob | undefined {
    return this.#engines.get(digest.value)?.partial;
  }

  /** Whether the repository maps to an upstream (pull-through). */
  isSeeded(want: { name: string; ns?: string | undefined }): boolean {
    return this.#c.router.targets(want.name, want.ns).length > 0;
  }

  /** Whether blobs of this repository can come from anywhere but this disk. */
  hasRemoteSources(want: { name: string; ns?: string }): boolean {
    return this.#c.swarm !== undefined || this.isSeeded(want);
  }

  /**
   * The in-flight blob for `want`, starting its fetch if nobody has. Resolves undefined when the
   * blob turned out to be local already or nobody has it; rejects when no source could be asked.
   */
  fetch(want: BlobWant): Promise<PartialBlob | undefined> {
    const key = want.digest.value;
    const running = this.#whole.get(key);
    if (running) return running;
    // Registered before any await, so concurrent callers always find it.
    const started = this.#startWhole(want);
    this.#whole.set(key, started);
    started.then(
      (partial) => {
        if (!partial) return void this.#whole.delete(key);
        partial
          .done()
          .catch(() => undefined)
          .finally(() => this.#whole.delete(key));
      },
      () => this.#whole.delete(key),
    );
    return started;
  }

  /**
   * A local client's Range read of a blob not stored here: the pieces covering the range are
   * fetched first and the reader streams them as they land; with fetch-all the rest follows once
   * they are in (so the seed sends nothing else before the answer starts). A range that is the
   * whole blob, or a blob already being fetched whole, is read from the whole fetch.
   */
  async fetchRange(want: BlobWant, rangeOf: (size: number) => ByteRange | undefined): Promise<{ partial: PartialBlob; range: ByteRange | undefined; stream: Readable } | undefined> {
    const joined = this.#whole.get(want.digest.value);
    const size = joined ? (await joined)?.size : await this.#rangeSize(want);
    if (size === undefined) return this.#readWhole(await this.fetch(want), rangeOf);
    const range = rangeOf(size);
    if (joined || range === undefined || wholeRange(range, size)) {
      const read = this.#readWhole(await this.fetch(want), rangeOf);
      // A range of a blob being fetched whole: its pieces go first.
      if (read?.range && !wholeRange(read.range, read.partial.size)) this.#engines.get(want.digest.value)?.need(read.range, read.stream);
      return read;
    }
    const engine = await this.#engines.engine(want, size);
    if (engine.broken) return this.#readWhole(await this.fetch(want), rangeOf);
    // Part of a blob cannot be verified on its own: like any Range read of an arriving blob, its
    // bytes stream as they land (lazy-pulling clients check their chunks against their own index).
    const stream = engine.partial.createReader(this.#c.store.blobs.path(want.digest), range, { holdBackUnverified: false, idleTimeoutMs: CLIENT_READ_IDLE_MS });
    engine.need(range, stream);
    if ((this.#init.rangeFetch ?? RANGE_FETCH_DEFAULT) === 'fetch-all') {
      void coveringPiecesDone(engine.partial, range, stream)
        .then((done) => (done ? this.fetch(want) : undefined))
        .catch((error: unknown) => this.#c.logger.warn({ digest: want.digest.value, err: error }, 'background fetch after a range read could not start'));
    }
    return { partial: engine.partial, range, stream };
  }

  #readWhole(partial: PartialBlob | undefined, rangeOf: (size: number) => ByteRange | undefined): { partial: PartialBlob; range: ByteRange | undefined; stream: Readable } | undefined {
    if (!partial) return undefined;
    const range = rangeOf(partial.size);
    return { partial, range, stream: partial.createReader(this.#c.store.blobs.path(partial.digest), range, { holdBackUnverified: true, idleTimeoutMs: CLIENT_READ_IDLE_MS }) };
  }

  /** The size a range read starts with; undefined: stored meanwhile, or nobody has it. */
  async #rangeSize(want: BlobWant): Promise<number | undefined> {
    const running = this.#engines.get(want.digest.value);
    if (running && !running.broken) return running.partial.size;
    if ((await this.#c.store.blobs.stat(want.digest)) !== undefined) return undefined;
    const seed = this.isSeeded(want) ? this.#c.seed : undefined;
    if (!seed && !this.#c.swarm) return undefined;
    return resolveBlobSize(want, { hints: this.sizes, seed, swarm: this.#c.swarm, logger: this.#c.logger });
  }

  /**
   * For the peer data plane: what this host has of a blob it is assembling, or — when the peer
   * asks as the piece's owner and the repository has a seed here — a new piece cache for it.
   */
  async forPeer(digest: Digest, ask: (OwnerAsk & { readonly from?: string }) | undefined, asker: string): Promise<PeerRead | undefined> {
    let engine = this.#engines.get(digest.value);
    if (engine?.broken) engine = undefined;
    if (engine && ask && ask.size !== engine.partial.size) {
      throw new OciError('SIZE_INVALID', `${digest.value} is ${engine.partial.size} bytes here, not ${ask.size}`);
    }
    if (engine) return this.#peerRead(engine, ask, asker);
    if (!ask) return undefined;
    if (!isValidRepositoryName(ask.repository)) throw new OciError('NAME_INVALID', `invalid repository name ${JSON.stringify(ask.repository)}`);
    const want: BlobWant = { name: ask.repository, digest, ...(ask.ns !== undefined ? { ns: ask.ns } : {}) };
    if (!this.isSeeded(want)) return undefined;
    // The asker's size is not taken on its word alone (a piece cache is laid out by it): it
    // is checked with the seed first, unless another peer vouches for it (size-vouch.ts). Meanwhile
    // the asker gets its headers at once: on a busy seed link that check can take seconds, and an
    // asker that hears nothing gives up on its owner.
    let verified: Promise<PieceEngine> | undefined;
    return {
      size: ask.size,
      busy: () => !this.#engines.seedReadsFree(),
      read: (range) => {
        verified ??= this.#verifiedEngine(want, ask.size, ask.from ?? asker);
        verified.catch(() => undefined);
        const out = new PassThrough();
        // Told it may come (not busy), it goes before this host's own seed reads from now on.
        this.#engines.settingUp(
          verified.then(
            (ready) => void pipeline(this.#peerRead(ready, ask, asker).read(range), out).catch(() => undefined),
            (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))),
          ),
        );
        return out;
      },
    };
  }

  #peerRead(engine: PieceEngine, ask: (OwnerAsk & { readonly from?: string }) | undefined, asker: string): PeerRead {
    return {
      size: engine.partial.size,
      busy: (range) => ask !== undefined && engine.askWouldWait(range),
      read: (range) => {
        const reader = engine.partial.createReader(this.#c.store.blobs.path(engine.partial.digest), range, { holdBackUnverified: false, idleTimeoutMs: PEER_READ_IDLE_MS });
        if (ask) engine.demand(range, ask.from ?? asker, reader, ask.skip);
        else engine.read(range, asker, reader);
        return reader;
      },
    };
  }

  /** The piece cache for an owner ask, once the seed or another peer confirmed the size (single-flight per digest). */
  #verifiedEngine(want: BlobWant, size: number, asker: string): Promise<PieceEngine> {
    const key = want.digest.value;
    let verifying = this.#verifying.get(key);
    if (!verifying) {
      verifying = (async () => {
        // Vouched for by another peer: the seed's first answer checks it (size-vouch.ts).
        const vouched = sizeVouched(this.#c.swarm?.holders(want.digest) ?? [], asker, size);
        const trusted = vouched ? size : await resolveBlobSize(want, { hints: this.sizes, seed: this.#c.seed, swarm: undefined, logger: this.#c.logger });
        if (trusted === undefined) throw new OciError('BLOB_UNKNOWN', `the seed does not have ${key}`);
        if (trusted !== size) throw new OciError('SIZE_INVALID', `${key} is ${trusted} bytes, not ${size}`);
        return this.#engines.engine(want, trusted);
      })().finally(() => this.#verifying.delete(key));
      this.#verifying.set(key, verifying);
    }
    return verifying;
  }

  async #startWhole(want: BlobWant): Promise<PartialBlob | undefined> {
    const { store, swarm } = this.#c;
    // A fetch that committed just before we registered: the blob is local now.
    if ((await store.blobs.stat(want.digest)) !== undefined) return undefined;
    const seed = this.isSeeded(want) ? this.#c.seed : undefined;
    if (!seed && !swarm) return undefined;
    const size = await resolveBlobSize(want, { hints: this.sizes, seed, swarm, logger: this.#c.logger });
    if (size === undefined) return undefined;
    let engine = this.#engines.get(want.digest.value);
    if (engine && (engine.broken || engine.partial.size !== size)) {
      // A piece cache started with a size a peer gave us, which the trusted size contradicts.
      await this.#engines.drop(engine, new OciError('SIZE_INVALID', `${want.digest.value} is ${size} bytes, not ${engine.partial.size}`));
      engine = undefined;
    }
    engine ??= await this.#engines.engine(want, size);
    const { partial } = engine;
    const before = { ...engine.bytes };
    const started = Date.now();
    this.#engines
      .fetchAll(engine, want)
      .then(
        () => this.#finished(want, engine, before, started),
        (error: unknown) => this.#failed(want, engine, error),
      )
      .catch((error: unknown) => this.#c.logger.error({ digest: want.digest.value, err: error }, 'blob fetch could not be finished'));
    return partial;
  }

  async #finished(want: BlobWant, engine: PieceEngine, before: { seed: number; peers: number }, started: number): Promise<void> {
    // Only into a repository here (as BlobService links): an anonymous GET under any name makes none.
    const { repositories } = this.#c.store;
    if (await repositories.holdsManifests(want.name)) await repositories.linkBlob(want.name, want.digest);
    this.stats.blobsFetched += 1;
    const fromSeed = engine.bytes.seed - before.seed;
    const fromPeers = engine.bytes.peers - before.peers;
    this.#c.logger.info({ repository: want.name, digest: want.digest.value, bytes: engine.partial.size, fromSeed, fromPeers, ms: Date.now() - started }, 'blob fetched and verified');
  }

  async #failed(want: BlobWant, engine: PieceEngine, error: unknown): Promise<void> {
    // Forgotten before the partial fails: its readers (a client's HEAD may follow at once) see
    // the failure before the partial has finished removing its file.
    this.#whole.delete(want.digest.value);
    this.stats.blobsFailed += 1;
    this.#c.logger.error({ digest: want.digest.value, repository: want.name, err: error }, 'blob fetch failed; nothing was stored');
    await this.#engines.drop(engine, error instanceof Error ? error : new Error(String(error)));
  }

  close(): void {
    this.#engines.close();
  }
}
