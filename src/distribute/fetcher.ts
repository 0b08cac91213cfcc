import type { Logger } from 'pino';
import { OciError, type Digest } from '../oci/index.ts';
import { isDiskFull, type PartialBlob, type Store } from '../store/index.ts';
import type { SwarmApi } from '../swarm/index.ts';
import type { PeerClient } from './peer-client.ts';
import { coalesce } from './coalesce.ts';
import { DEFAULT_PIECE_SIZE } from './piece-size.ts';
import { PieceFetch, WRITE_BATCH_BYTES, type PieceFetchInit } from './piece-fetch.ts';
import { TransferStats } from './transfer-stats.ts';
import type { BlobSource, BlobWant, SourceStream, UpstreamRouter } from './types.ts';

/** How often a broken-off seed transfer is resumed (with Range) before the fetch fails. */
export const DEFAULT_RESUME_ATTEMPTS = 3;

export interface FetcherInit extends PieceFetchInit {
  readonly resumeAttempts?: number;
  readonly pieceSize?: number;
}

export interface FetcherComponents {
  readonly store: Store;
  /** The seed registries, asked for repositories the router maps to an upstream. */
  readonly seed: BlobSource;
  readonly router: UpstreamRouter;
  readonly logger: Logger;
  readonly swarm?: SwarmApi;
  readonly peers?: PeerClient;
  readonly stats?: TransferStats;
}

export interface FetchStats {
  readonly digest: string;
  readonly bytes: number;
  readonly fromSeed: number;
  readonly fromPeers: number;
  readonly ms: number;
}

/**
 * One fetch per digest per host. The first request for a missing blob starts the fetch; every
 * other request joins it and reads the same bytes as they land. The fetch belongs to nobody: it
 * finishes, verifies and commits even when every client has gone away. A host with peers fills
 * the blob piece by piece from them and the seed (PieceFetch); a host alone streams it from the
 * seed, resuming with Range when the transfer breaks off.
 */
export class Fetcher {
  readonly stats: TransferStats;
  readonly #c: FetcherComponents;
  readonly #init: FetcherInit;
  readonly #inflight = new Map<string, Promise<PartialBlob | undefined>>();
  readonly #partials = new Map<string, PartialBlob>();

  constructor(components: FetcherComponents, init: FetcherInit = {}) {
    this.#c = components;
    this.#init = init;
    this.stats = components.stats ?? new TransferStats();
  }

  get inflightCount(): number {
    return this.#inflight.size;
  }

  /** The running fetch of `digest`, if any. */
  joinable(digest: Digest): Promise<PartialBlob | undefined> | undefined {
    return this.#inflight.get(digest.value);
  }

  /** Blobs being filled now. */
  inflight(): PartialBlob[] {
    return [...this.#partials.values()];
  }

  /** The blob being filled now, if any (the peer data plane serves its pieces). */
  partial(digest: Digest): PartialBlob | undefined {
    return this.#partials.get(digest.value);
  }

  /** Whether the repository maps to an upstream (pull-through). */
  isSeeded(want: { name: string; ns?: string }): boolean {
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
    const seed = this.isSeeded(want) ? this.#c.seed : undefined;
    const running = this.#inflight.get(key);
    if (running) return running;
    // Registered before any await, so concurrent callers always find it.
    const started = this.#start(want, seed);
    this.#inflight.set(key, started);
    started.then(
      (partial) => {
        if (!partial) return void this.#inflight.delete(key);
        this.#partials.set(key, partial);
        partial
          .done()
          .catch(() => undefined)
          .finally(() => {
            this.#inflight.delete(key);
            this.#partials.delete(key);
          });
      },
      () => this.#inflight.delete(key),
    );
    return started;
  }

  async #start(want: BlobWant, seed: BlobSource | undefined): Promise<PartialBlob | undefined> {
    const { store, swarm, peers } = this.#c;
    // A fetch that committed just before we registered: the blob is local now.
    if ((await store.blobs.stat(want.digest)) !== undefined) return undefined;
    const pieceSize = this.#init.pieceSize ?? DEFAULT_PIECE_SIZE;
    if (swarm && peers && swarm.peers().length > 0) {
      const size = swarm.holders(want.digest.value).find((h) => h.size >= 0)?.size ?? (await this.#sizeFromSeed(want, seed));
      if (size === undefined) return undefined;
      const partial = await store.blobs.createPartial(want.digest, size, pieceSize);
      const started = Date.now();
      const before = { seed: this.stats.bytesFromSeed, peers: this.stats.bytesFromPeers };
      const fetch = new PieceFetch(want, partial, { swarm, seed, peers, stats: this.stats, logger: this.#c.logger }, this.#init);
      void fetch.run().then(
        () => this.#finished(want, size, started, before),
        (error: unknown) => this.#failed(want, partial, error),
      );
      return partial;
    }
    if (!seed) return undefined;
    // A fetch cut short by a crash left pieces on disk: the seed is asked only for what follows them.
    const kept = await store.blobs.keptPartialSize(want.digest);
    const opened = kept === undefined ? await seed.open(want) : undefined;
    if (!opened && kept === undefined) return undefined;
    const partial = await store.blobs.createPartial(want.digest, opened?.size ?? kept!, pieceSize);
    void this.#stream(want, seed, opened, partial);
    return partial;
  }

  async #sizeFromSeed(want: BlobWant, seed: BlobSource | undefined): Promise<number | undefined> {
    if (!seed) return undefined;
    const probe = await seed.open(want, { start: 0, end: 0 });
    // Destroying an unread undici body emits 'error' (RequestAbortedError): without a listener
    // that is an uncaught exception and the daemon dies.
    probe?.stream.on('error', () => undefined);
    probe?.stream.destroy();
    return probe?.size;
  }

  /** A lone host: one sequential stream from the seed, resumed with Range when it breaks off. */
  async #stream(want: BlobWant, seed: BlobSource, first: SourceStream | undefined, partial: PartialBlob): Promise<void> {
    const started = Date.now();
    const before = { seed: this.stats.bytesFromSeed, peers: this.stats.bytesFromPeers };
    let current: SourceStream | undefined = first;
    let attempts = 0;
    try {
      if (!current) {
        // Resuming: one sequential stream needs a contiguous start; kept pieces past a gap are fetched again.
        const at = partial.availableFrom(0);
        for (const index of partial.completePieces()) if (partial.pieceStart(index) > at) partial.resetPiece(index);
        if (at < partial.size) current = await seed.open(want, { start: at, end: partial.size - 1 });
        if (at < partial.size && !current) throw new Error(`${seed.kind} no longer has ${want.digest.value}`);
      }
      while (current) {
        try {
          for await (const chunk of coalesce(current.stream as AsyncIterable<Buffer>, WRITE_BATCH_BYTES)) {
            if (partial.received + chunk.byteLength > partial.size) {
              throw new OciError('DIGEST_INVALID', `${seed.kind} sent more than the ${partial.size} bytes it announced for ${want.digest.value}`);
            }
            await partial.append(chunk);
            this.stats.receivedFromSeed(chunk.byteLength);
          }
          if (partial.received >= partial.size) break;
          throw new Error(`${seed.kind} stream ended at byte ${partial.received} of ${partial.size}`);
        } catch (error) {
          // A full disk is not a broken transfer: resuming would only fail again.
          if (error instanceof OciError || isDiskFull(error) || attempts >= (this.#init.resumeAttempts ?? DEFAULT_RESUME_ATTEMPTS)) throw error;
          attempts += 1;
          this.#c.logger.warn({ digest: want.digest.value, at: partial.received, attempt: attempts, err: error }, 'blob transfer broke off; resuming with Range');
          current = await seed.open(want, { start: partial.received, end: partial.size - 1 });
          if (!current) throw new Error(`${seed.kind} no longer has ${want.digest.value}`);
        }
      }
      const result = await partial.commit();
      if (!result.ok) {
        this.stats.verificationFailures += 1;
        throw new OciError('DIGEST_INVALID', `${seed.kind} sent bytes with digest ${result.actual} for ${want.digest.value}`);
      }
      await this.#finished(want, partial.size, started, before);
    } catch (error) {
      current?.stream.destroy();
      await this.#failed(want, partial, error);
    }
  }

  async #finished(want: BlobWant, size: number, started: number, before: { seed: number; peers: number }): Promise<void> {
    await this.#c.store.repositories.linkBlob(want.name, want.digest);
    this.stats.blobsFetched += 1;
    const fromSeed = this.stats.bytesFromSeed - before.seed;
    const fromPeers = this.stats.bytesFromPeers - before.peers;
    // Counters are host-wide, so with several fetches at once the split is approximate.
    this.#c.logger.info({ repository: want.name, digest: want.digest.value, bytes: size, fromSeed, fromPeers, ms: Date.now() - started }, 'blob fetched and verified');
  }

  async #failed(want: BlobWant, partial: PartialBlob, error: unknown): Promise<void> {
    this.stats.blobsFailed += 1;
    this.#c.logger.error({ digest: want.digest.value, repository: want.name, err: error }, 'blob fetch failed; nothing was stored');
    await partial.fail(error instanceof Error ? error : new Error(String(error)));
  }
}
