// Upstream health, as nginx's max_fails/fail_timeout: after `maxFails` consecutive failures
// (network errors, timeouts, 5xx, 429) an upstream is down for `failTimeoutMs` and skipped; after
// that it is tried again, and one more failure puts it straight back down. Any answer resets it.
import type { ByteRange, Digest } from '../oci/index.ts';
import { UpstreamUnavailableError } from './errors.ts';
import type { RemoteBlob, RemoteManifest, RemoteManifestInfo, RequestOptions, UpstreamRegistry } from './types.ts';

export const DEFAULT_MAX_FAILS = 3;
export const DEFAULT_FAIL_TIMEOUT_MS = 30_000;

export interface HealthInit {
  readonly maxFails?: number;
  readonly failTimeoutMs?: number;
  readonly now?: () => number;
  /** Called when an upstream goes down or comes back (for logs). */
  readonly onChange?: (url: string, state: 'up' | 'down', lastError: string | undefined) => void;
}

/** One upstream's state, for status pages. */
export interface UpstreamHealth {
  readonly url: string;
  readonly state: 'up' | 'down';
  readonly consecutiveFailures: number;
  /** ISO time until which the upstream is skipped, when down. */
  readonly downUntil?: string;
  readonly lastError?: string;
  readonly lastFailureAt?: string;
  readonly lastSuccessAt?: string;
}

interface Entry {
  failures: number;
  downUntil: number;
  lastError?: string;
  lastFailureAt?: number;
  lastSuccessAt?: number;
}

export class HealthTracker {
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly #now: () => number;
  readonly #onChange: HealthInit['onChange'];
  readonly #entries = new Map<string, Entry>();

  constructor(init: HealthInit = {}) {
    this.maxFails = Math.max(1, init.maxFails ?? DEFAULT_MAX_FAILS);
    this.failTimeoutMs = init.failTimeoutMs ?? DEFAULT_FAIL_TIMEOUT_MS;
    this.#now = init.now ?? Date.now;
    this.#onChange = init.onChange;
  }

  /** Milliseconds the upstream stays skipped; 0 when it may be tried. */
  downForMs(url: string): number {
    const entry = this.#entries.get(url);
    return entry ? Math.max(0, entry.downUntil - this.#now()) : 0;
  }

  isDown(url: string): boolean {
    return this.downForMs(url) > 0;
  }

  recordSuccess(url: string): void {
    const entry = this.#entry(url);
    const wasFailing = entry.failures >= this.maxFails;
    entry.failures = 0;
    entry.downUntil = 0;
    entry.lastSuccessAt = this.#now();
    if (wasFailing) this.#onChange?.(url, 'up', entry.lastError);
  }

  recordFailure(url: string, error: unknown): void {
    const entry = this.#entry(url);
    entry.failures += 1;
    entry.lastError = error instanceof Error ? error.message : String(error);
    entry.lastFailureAt = this.#now();
    if (entry.failures >= this.maxFails && entry.downUntil <= entry.lastFailureAt) {
      entry.downUntil = entry.lastFailureAt + this.failTimeoutMs;
      this.#onChange?.(url, 'down', entry.lastError);
    }
  }

  /** Every upstream seen so far. */
  health(): UpstreamHealth[] {
    return [...this.#entries].map(([url, e]) => ({
      url,
      state: this.isDown(url) ? 'down' : 'up',
      consecutiveFailures: e.failures,
      ...(this.isDown(url) ? { downUntil: new Date(e.downUntil).toISOString() } : {}),
      ...(e.lastError !== undefined ? { lastError: e.lastError } : {}),
      ...(e.lastFailureAt !== undefined ? { lastFailureAt: new Date(e.lastFailureAt).toISOString() } : {}),
      ...(e.lastSuccessAt !== undefined ? { lastSuccessAt: new Date(e.lastSuccessAt).toISOString() } : {}),
    }));
  }

  /** Starts tracking an upstream so it shows in health() before its first request. */
  register(url: string): void {
    this.#entry(url);
  }

  #entry(url: string): Entry {
    let entry = this.#entries.get(url);
    if (!entry) {
      entry = { failures: 0, downUntil: 0 };
      this.#entries.set(url, entry);
    }
    return entry;
  }
}

/** An UpstreamRegistry that reports its outcomes to a HealthTracker and fails fast while down. */
export class TrackedUpstream implements UpstreamRegistry {
  readonly inner: UpstreamRegistry;
  readonly #tracker: HealthTracker;

  constructor(inner: UpstreamRegistry, tracker: HealthTracker) {
    this.inner = inner;
    this.#tracker = tracker;
    tracker.register(inner.url);
  }

  get url(): string {
    return this.inner.url;
  }

  get host(): string {
    return this.inner.host;
  }

  headManifest(repository: string, reference: string, accept: readonly string[], options?: RequestOptions): Promise<RemoteManifestInfo | undefined> {
    return this.#run(options, () => this.inner.headManifest(repository, reference, accept, options));
  }

  getManifest(repository: string, reference: string, accept: readonly string[], options?: RequestOptions): Promise<RemoteManifest | undefined> {
    return this.#run(options, () => this.inner.getManifest(repository, reference, accept, options));
  }

  headBlob(repository: string, digest: Digest, options?: RequestOptions): Promise<number | undefined> {
    return this.#run(options, () => this.inner.headBlob(repository, digest, options));
  }

  getBlob(repository: string, digest: Digest, range?: ByteRange, options?: RequestOptions): Promise<RemoteBlob | undefined> {
    return this.#run(options, () => this.inner.getBlob(repository, digest, range, options));
  }

  listTags(repository: string, options?: RequestOptions): Promise<string[] | undefined> {
    return this.#run(options, () => this.inner.listTags(repository, options));
  }

  catalog(options?: RequestOptions): Promise<string[]> {
    return this.#run(options, () => this.inner.catalog(options));
  }

  async #run<T>(options: RequestOptions | undefined, call: () => Promise<T>): Promise<T> {
    const downFor = this.#tracker.downForMs(this.url);
    if (downFor > 0) {
      const last = this.#tracker.health().find((h) => h.url === this.url)?.lastError;
      throw new UpstreamUnavailableError(this.host, `upstream ${this.host} is marked down after ${this.#tracker.maxFails} consecutive failures${last ? ` (last: ${last})` : ''}; it is tried again in ${Math.ceil(downFor / 1000)} s`, { retryAfterMs: downFor });
    }
    try {
      const result = await call();
      this.#tracker.recordSuccess(this.url);
      return result;
    } catch (error) {
      if (options?.signal?.aborted) throw error; // the caller gave up: says nothing about the upstream
      if (error instanceof UpstreamUnavailableError) this.#tracker.recordFailure(this.url, error);
      else this.#tracker.recordSuccess(this.url);
      throw error;
    }
  }
}
