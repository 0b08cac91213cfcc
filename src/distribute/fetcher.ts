import type { Logger } from 'pino';
import { OciError, type Digest } from '../oci/index.ts';
import { IncomingBlob, type Store } from '../store/index.ts';
import type { BlobSource, BlobWant, SourceStream } from './types.ts';

/** How often a broken-off transfer is resumed (with Range) before the fetch fails. */
export const DEFAULT_RESUME_ATTEMPTS = 3;

export interface FetcherInit {
  readonly resumeAttempts?: number;
}

export interface FetcherComponents {
  readonly store: Store;
  readonly sources: readonly BlobSource[];
  readonly logger: Logger;
}

export interface FetchStats {
  readonly digest: string;
  readonly bytes: number;
  readonly source: string;
  readonly ms: number;
}

/**
 * One fetch per digest per host. The first request for a missing blob starts the fetch; every
 * other request joins it and reads the same bytes as they land. The fetch belongs to nobody:
 * it finishes, verifies and commits even when every client has gone away (the next pull is then
 * a local hit), and a transfer that breaks off is resumed with Range.
 */
export class Fetcher {
  readonly #components: FetcherComponents;
  readonly #resumeAttempts: number;
  readonly #inflight = new Map<string, Promise<IncomingBlob | undefined>>();
  readonly #listeners = new Set<(stats: FetchStats) => void>();

  constructor(components: FetcherComponents, init: FetcherInit = {}) {
    this.#components = components;
    this.#resumeAttempts = init.resumeAttempts ?? DEFAULT_RESUME_ATTEMPTS;
  }

  get inflightCount(): number {
    return this.#inflight.size;
  }

  onFetched(listener: (stats: FetchStats) => void): void {
    this.#listeners.add(listener);
  }

  /** The running fetch of `digest`, if any. */
  joinable(digest: Digest): Promise<IncomingBlob | undefined> | undefined {
    return this.#inflight.get(digest.value);
  }

  /**
   * The in-flight blob for `want`, starting its fetch if nobody has. Resolves undefined when the
   * blob turned out to be local already or no source has it; rejects when no source could be asked.
   */
  fetch(want: BlobWant): Promise<IncomingBlob | undefined> {
    const key = want.digest.value;
    const running = this.#inflight.get(key);
    if (running) return running;
    // Registered before any await, so concurrent callers always find it.
    const started = this.#start(want);
    this.#inflight.set(key, started);
    started.then(
      (incoming) => {
        if (!incoming) this.#inflight.delete(key);
        else incoming.done().catch(() => undefined).finally(() => this.#inflight.delete(key));
      },
      () => this.#inflight.delete(key),
    );
    return started;
  }

  async #start(want: BlobWant): Promise<IncomingBlob | undefined> {
    const { store } = this.#components;
    // A fetch that committed just before we registered: the blob is local now.
    if ((await store.blobs.stat(want.digest)) !== undefined) return undefined;
    let failure: unknown;
    for (const source of this.#components.sources) {
      let opened: SourceStream | undefined;
      try {
        opened = await source.open(want);
      } catch (error) {
        failure = error;
        continue;
      }
      if (!opened) continue;
      const writer = await store.blobs.createWriter(want.digest.algorithm);
      const incoming = new IncomingBlob(want.digest, writer, opened.size);
      void this.#pump(want, source, opened, incoming);
      return incoming;
    }
    if (failure) throw failure;
    return undefined;
  }

  async #pump(want: BlobWant, source: BlobSource, first: SourceStream, incoming: IncomingBlob): Promise<void> {
    const { logger, store } = this.#components;
    const started = Date.now();
    let current: SourceStream | undefined = first;
    let attempts = 0;
    try {
      for (;;) {
        try {
          for await (const chunk of current.stream) {
            if (incoming.written + (chunk as Buffer).byteLength > first.size) {
              throw new OciError('DIGEST_INVALID', `${source.kind} sent more than the ${first.size} bytes it announced for ${want.digest.value}`);
            }
            await incoming.append(chunk as Buffer);
          }
          if (incoming.written >= first.size) break;
          throw new Error(`${source.kind} stream ended at byte ${incoming.written} of ${first.size}`);
        } catch (error) {
          if (error instanceof OciError || attempts >= this.#resumeAttempts) throw error;
          attempts += 1;
          logger.warn({ digest: want.digest.value, at: incoming.written, attempt: attempts, err: error }, 'blob transfer broke off; resuming with Range');
          current = await source.open(want, { start: incoming.written, end: first.size - 1 });
          if (!current) throw new Error(`${source.kind} no longer has ${want.digest.value}`);
        }
      }
      await incoming.commit();
      await store.repositories.linkBlob(want.name, want.digest);
      const stats = { digest: want.digest.value, bytes: first.size, source: source.kind, ms: Date.now() - started };
      logger.info({ ...stats, repository: want.name }, 'blob fetched and verified');
      for (const listener of this.#listeners) listener(stats);
    } catch (error) {
      logger.error({ digest: want.digest.value, repository: want.name, err: error }, 'blob fetch failed; nothing was stored');
      current?.stream.destroy();
      await incoming.fail(error as Error);
    }
  }
}
