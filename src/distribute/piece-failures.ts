import { OciError } from '../oci/index.ts';
import { UpstreamUnavailableError } from '../upstream/index.ts';
import { BUSY_BACKOFF_MS, MAX_SEED_FAILURES, SEED_OUTAGE_MS, SEED_RETRY_BASE_MS, SEED_RETRY_MAX_MS } from './piece-limits.ts';

const NONE: ReadonlySet<string> = new Set();

/**
 * What one blob's engine remembers of failed transfers: the sources that failed each piece (the
 * source choice skips them for that piece), the peers that answered busy (not asked again for a
 * moment, not a failure), and the seed's health (retried after a doubling pause, given up on after
 * MAX_SEED_FAILURES or a final answer).
 */
export class PieceFailures {
  readonly #failed = new Map<number, Set<string>>();
  readonly #movedOff = new Map<number, Set<string>>();
  readonly #stalledOwner = new Map<number, string>();
  readonly #takenBy = new Map<number, string>();
  readonly #busyUntil = new Map<string, number>();
  readonly #busySince = new Map<string, number>();
  #seedFailures = 0;
  #seedFailingSince = 0;
  #seedGivenUp = false;
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

  /** A crawling transfer of piece `index` from `sourceId` was stopped for a peer holding the piece complete (crawling-transfer.ts). */
  movedOff(index: number, sourceId: string): void {
    const moved = this.#movedOff.get(index) ?? new Set<string>();
    this.#movedOff.set(index, moved);
    moved.add(sourceId);
  }

  /**
   * Piece `index`'s owner `ownerId` stalled (crawling-transfer.ts): skipped for the piece, as a
   * holder and as an owner, without counting as an owner that failed (the next owner reads it).
   */
  ownerStalled(index: number, ownerId: string): void {
    this.#stalledOwner.set(index, ownerId);
    this.movedOff(index, ownerId);
  }

  /**
   * An asker says piece `index`'s owner `ownerId` stalled for it (OwnerAsk.skip): taken as stalled
   * here too when it is the piece's owner here (`owner`) and no owner of the piece stalled before,
   * so an asker can cost at most one other read of each piece. Whether it was taken.
   */
  skipStalledOwner(index: number, ownerId: string, owner: string | undefined): boolean {
    if (ownerId !== owner || this.#stalledOwner.has(index)) return false;
    this.ownerStalled(index, ownerId);
    return true;
  }

  /**
   * Member `by` reads piece `index`, which this host (`selfId`) owns, from the seed (PieceTakeover):
   * the piece is asked of `by`, and this host is skipped as its owner (it reads it from the seed no
   * more), though not as a holder: peers may have it arriving from `by`.
   */
  takenOver(index: number, selfId: string, by: string): void {
    this.#takenBy.set(index, by);
    if (!this.#stalledOwner.has(index)) this.#stalledOwner.set(index, selfId);
  }

  /** The member that took piece `index` over from this host, its owner (takenOver). */
  takenByOf(index: number): string | undefined {
    return this.#takenBy.get(index);
  }

  /** The owner of piece `index` that stalled, if one did (once per piece). */
  stalledOwnerOf(index: number): string | undefined {
    return this.#stalledOwner.get(index);
  }

  /** The sources a crawling transfer of piece `index` was moved off; undefined: it never was. */
  movedOffOf(index: number): ReadonlySet<string> | undefined {
    return this.#movedOff.get(index);
  }

  /** The peer answered busy; returns for how long it has answered nothing else (since its first busy answer with no byte from it after). */
  peerBusy(peerId: string, now = Date.now()): number {
    this.#busyUntil.set(peerId, now + BUSY_BACKOFF_MS);
    const since = this.#busySince.get(peerId) ?? now;
    this.#busySince.set(peerId, since);
    return now - since;
  }

  /** Bytes came from the peer: its busy answers before were a moment's. */
  peerSent(peerId: string): void {
    this.#busySince.delete(peerId);
  }

  isBusy(peerId: string, now: number): boolean {
    return (this.#busyUntil.get(peerId) ?? 0) > now;
  }

  /** `final`: the seed said it will never serve this blob (not found, refused), so it is not asked again. */
  seedFailed(error: unknown, final: boolean, now = Date.now()): void {
    this.#lastSeedError = error;
    if (final) {
      this.#seedGivenUp = true;
      return;
    }
    // Reads that were running when the seed went away break off together: one outage, one failure.
    if (now < this.#seedRetryAt) return;
    this.#seedFailures += 1;
    if (this.#seedFailures === 1) this.#seedFailingSince = now;
    const pause = Math.min(SEED_RETRY_BASE_MS * 2 ** (this.#seedFailures - 1), SEED_RETRY_MAX_MS);
    this.#seedRetryAt = now + Math.max(pause, retryAfter(error));
    this.#seedGivenUp = this.#seedFailures >= MAX_SEED_FAILURES && now - this.#seedFailingSince >= SEED_OUTAGE_MS;
  }

  /** The seed sent bytes: a failure before belonged to an outage that is over. */
  seedAnswered(): void {
    this.#seedFailures = 0;
  }

  /** The seed has not failed too often to be asked at all. */
  get seedUsable(): boolean {
    return !this.#seedGivenUp;
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

/** How long the seed asked to be left alone (Retry-After, or its upstream marked down for a while), anywhere in `error`'s causes; 0 if it did not. */
function retryAfter(error: unknown): number {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof UpstreamUnavailableError && e.retryAfterMs !== undefined) return e.retryAfterMs;
  }
  return 0;
}
