import type { PieceSource } from './piece-source.ts';

/**
 * How a transfer is going: when it started, its source answered and its first batch landed (epoch
 * ms, 0: not yet), how long its writes waited for the blob's client (done waits, and since when
 * the current one waits: performance.now(), 0: none), the bytes landed.
 */
export interface TransferTiming {
  readonly startedAt: number;
  openedAt: number;
  firstAt: number;
  pacedMs: number;
  pacingSince: number;
  bytes: number;
}

/** The timing of a transfer starting now. */
export function startTiming(): TransferTiming {
  return { startedAt: Date.now(), openedAt: 0, firstAt: 0, pacedMs: 0, pacingSince: 0, bytes: 0 };
}

/** One running transfer: a source, the pieces it has claimed (in order), and how to stop it. */
export interface Transfer {
  readonly source: PieceSource;
  readonly pieces: readonly number[];
  /** Started for pieces a peer asked this host for (not counted against this host's own limits). */
  readonly demanded: boolean;
  /**
   * The first byte a Range read (a local client's, or a peer's asking this host as the owner)
   * wants of the first piece: an empty piece is fetched from there, its head after.
   */
  readonly from: number | undefined;
  readonly controller: AbortController;
  readonly timing: TransferTiming;
}

/** The transfers of one blob: which piece each claims, and how many run per source. */
export class PieceTransfers {
  readonly #running = new Map<Transfer, Promise<void> | undefined>();
  readonly #claims = new Map<number, Transfer>();

  get size(): number {
    return this.#running.size;
  }

  /** Transfers started for this host's own need. */
  get ownCount(): number {
    let count = 0;
    for (const t of this.#running.keys()) if (!t.demanded) count += 1;
    return count;
  }

  /** Seed transfers started for this host's own need. */
  get seedCount(): number {
    let count = 0;
    for (const t of this.#running.keys()) if (!t.demanded && t.source.kind === 'seed') count += 1;
    return count;
  }

  /** The transfers running now. */
  running(): IterableIterator<Transfer> {
    return this.#running.keys();
  }

  countFrom(peerId: string): number {
    let count = 0;
    for (const t of this.#running.keys()) if (t.source.id === peerId) count += 1;
    return count;
  }

  claimOf(index: number): Transfer | undefined {
    return this.#claims.get(index);
  }

  /** The transfer claiming piece `index`, if it reads from `peerId`. */
  claimFrom(index: number, peerId: string): Transfer | undefined {
    const claim = this.#claims.get(index);
    return claim?.source.id === peerId ? claim : undefined;
  }

  begin(source: PieceSource, pieces: readonly number[], demanded: boolean, from?: number): Transfer {
    const transfer: Transfer = { source, pieces, demanded, from, controller: new AbortController(), timing: startTiming() };
    for (const index of pieces) this.#claims.set(index, transfer);
    this.#running.set(transfer, undefined);
    return transfer;
  }

  track(transfer: Transfer, running: Promise<void>): void {
    if (this.#running.has(transfer)) this.#running.set(transfer, running);
  }

  /** The piece is done (or given up) by this transfer; another may claim it. */
  release(transfer: Transfer, index: number): void {
    if (this.#claims.get(index) === transfer) this.#claims.delete(index);
  }

  end(transfer: Transfer): void {
    for (const index of transfer.pieces) this.release(transfer, index);
    this.#running.delete(transfer);
  }

  /** Resolves once every transfer running now has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#running.values()]);
  }
}
