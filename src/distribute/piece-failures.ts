import { OciError } from '../oci/index.ts';
import { BUSY_BACKOFF_MS, MAX_SEED_FAILURES } from './piece-limits.ts';

const NONE: ReadonlySet<string> = new Set();

/**
 * What one blob's engine remembers of failed transfers: the sources that failed each piece (the
 * source choice skips them for that piece), the peers that answered busy (not asked again for a
 * moment, not a failure), and the seed's health (retried after a growing pause, given up on after
 * MAX_SEED_FAILURES or a final answer).
 */
export class PieceFailures {
  readonly #failed = new Map<number, Set<string>>();
  readonly #busyUntil = new Map<string, number>();
  #seedFailures = 0;
  #seedRetryAt = 0;
  #lastSeedError: unknown;

  /** Sources (peer ids, 'seed') that failed this piece. */
  of(index: number): ReadonlySet<string> {
    return this.#failed.get(index) ?? NONE;
  }

  sourceFailed(index: number, sourceId: string): void {
    const failed = this.#failed.get(index) ?? new Set<string>();
    this.#failed.set(index, failed);
    failed.add(sourceId);
  }

  peerBusy(peerId: string, now = Date.now()): void {
    this.#busyUntil.set(peerId, now + BUSY_BACKOFF_MS);
  }

  isBusy(peerId: string, now: number): boolean {
    return (this.#busyUntil.get(peerId) ?? 0) > now;
  }

  /** `final`: the seed said it will never serve this blob (not found, refused), so it is not asked again. */
  seedFailed(error: unknown, final: boolean, now = Date.now()): void {
    this.#seedFailures = final ? MAX_SEED_FAILURES : this.#seedFailures + 1;
    this.#seedRetryAt = now + 500 * this.#seedFailures;
    this.#lastSeedError = error;
  }

  /** The seed has not failed too often to be asked at all. */
  get seedUsable(): boolean {
    return this.#seedFailures < MAX_SEED_FAILURES;
  }

  /** The pause after the seed's last failure is over. */
  seedReady(now: number): boolean {
    return now >= this.#seedRetryAt;
  }

  get lastSeedError(): unknown {
    return this.#lastSeedError;
  }

  /** Why `digest` cannot be had when nothing runs and nothing can start: the seed's last error, if it says so. */
  noSource(digest: string): OciError {
    const last = this.#lastSeedError;
    return last instanceof OciError ? last : new OciError('UNAVAILABLE', `no peer holds ${digest} and the seed cannot serve it${last ? `: ${(last as Error).message}` : ''}`);
  }
}
