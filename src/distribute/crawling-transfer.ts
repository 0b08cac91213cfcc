// A transfer from a peer can crawl while the piece sits complete on another peer: its source's
// upload is shared by many readers or shaped (a host whose link fell to 2 Mbit/s kept the healthy
// hosts reading a piece from it for 93-117 s, though two of them had it complete 30 s in: fault
// audit F1), or a whole holder slowed down (F6: dropped only by the 64 KiB/s floor, ~20 s later).
// Such a transfer is stopped and its piece resumed (Range) from a peer that holds it complete: the
// move never costs the seed a byte, it happens only when such a peer is free to serve now, and the
// piece's next choice is among peers holding it complete (piece-sourcing.ts).
//
// And a piece's owner can stall: its own link is slow, so its seed read of the piece, which every
// other host waits for, crawls (the healthy hosts of F1 waited 60-165 s for the slow host's pieces).
// A host that sees the owner's transfer of the piece go STALL_SLOWER_THAN_SEED times slower than
// its own seed reads lately skips that owner for the piece, once: the next owner in rank (every
// host's same choice) reads the rest of it from the seed, which costs the seed that rest once more.
//
// Neither is done when it is this host's own link that is slow (transfer-paces.ts, slowAlone,
// HostCrawls): every transfer crawls alike then, and moving them only starts them over elsewhere.
import type { Logger } from 'pino';
import type { PartialBlob } from '../store/index.ts';
import type { PieceFailures } from './piece-failures.ts';
import type { PieceSourcing } from './piece-sourcing.ts';
import type { PieceTransfers, Transfer } from './piece-transfers.ts';
import { CRAWL_SLOWER_THAN_BEST, CRAWL_WINDOW_MS, STALL_SLOWER_THAN_SEED, TransferPaces } from './transfer-paces.ts';

/**
 * Whether `transfer` is slow alone: every other peer's transfer of the blob, judged over a window,
 * went `times` times faster (and none waits unanswered past a window). Transfers that share a slow
 * link go slowly together, each at its share: none of them is moved. For a crawl (`linkPacedOnly`)
 * only pieces their peers hold complete count: one arriving there goes at that peer's own source's
 * pace, no sign of this host's link. For a stalled owner every transfer counts: this host's own
 * owners' transfers going as slowly says the same of its link.
 */
export function slowAlone(paces: TransferPaces, transfer: Transfer, others: Iterable<Transfer>, now: number, { times, linkPacedOnly }: { readonly times: number; readonly linkPacedOnly: boolean }): boolean {
  const pace = paces.windowPace(transfer) ?? 0;
  for (const other of others) {
    if (other === transfer || other.source.kind === 'seed' || other.source.id === transfer.source.id || other.controller.signal.aborted) continue;
    const { openedAt, startedAt } = other.timing;
    if (openedAt === 0 && now - startedAt > CRAWL_WINDOW_MS) return false;
    if (linkPacedOnly && other.source.pieceDone !== true) continue;
    const otherPace = paces.windowPace(other);
    if (otherPace !== undefined && otherPace < pace * times) return false;
  }
  return true;
}

/** How long a blob's report of its crawling sources counts (its engine ticks every 250 ms while it runs). */
const REPORT_MS = 1_000;

/** The peers whose transfers crawl (or have not answered) on this host, all its blobs together. */
export class HostCrawls {
  readonly #reports = new Map<object, { readonly at: number; readonly sources: ReadonlySet<string> }>();

  report(watch: object, sources: ReadonlySet<string>, now = Date.now()): void {
    if (sources.size === 0) this.#reports.delete(watch);
    else this.#reports.set(watch, { at: now, sources });
  }

  /** Distinct peers crawling on this host now. */
  count(now = Date.now()): number {
    const all = new Set<string>();
    for (const [watch, { at, sources }] of this.#reports) {
      if (now - at > REPORT_MS) this.#reports.delete(watch);
      else for (const source of sources) all.add(source);
    }
    return all.size;
  }
}

/** One blob's engine's parts the watch reads and acts on; `host`: this host's crawls, shared by its engines (one of its own if none). */
export interface CrawlWatchParts {
  readonly partial: PartialBlob;
  readonly transfers: PieceTransfers;
  readonly sourcing: PieceSourcing;
  readonly failures: PieceFailures;
  readonly logger: Logger;
  readonly host?: HostCrawls;
}

/** Asked at every tick of a blob's engine: moves its crawling peer transfers. */
export class CrawlWatch {
  readonly #p: CrawlWatchParts;
  readonly #host: HostCrawls;
  readonly #paces = new TransferPaces();

  constructor(parts: CrawlWatchParts) {
    this.#p = parts;
    this.#host = parts.host ?? new HostCrawls();
  }

  /** A transfer ended: its pace counts toward the best (one that ran between two ticks was never seen running). */
  ended(transfer: Transfer, now = Date.now()): void {
    this.#paces.seen(transfer, now, true);
  }

  #alone(transfer: Transfer, now: number, stall = false): boolean {
    const times = stall ? STALL_SLOWER_THAN_SEED : CRAWL_SLOWER_THAN_BEST;
    return slowAlone(this.#paces, transfer, this.#p.transfers.running(), now, { times, linkPacedOnly: !stall });
  }

  /**
   * Stops each peer transfer that crawls while another peer, free now, holds its piece complete
   * (the piece resumes there), and each that stalls from its piece's owner (the next owner gets it).
   * Not while transfers from two peers or more crawl (or have not answered), of any blob on this
   * host, or two peers or more are penalised, nor while another peer's transfer of this blob goes
   * nearly as slowly (slowAlone).
   */
  moveCrawling(now = Date.now()): void {
    const { partial: blob, transfers, failures } = this.#p;
    const crawling: Judged[] = [];
    const stalling: Judged[] = [];
    const crawlingFrom = new Set<string>();
    for (const transfer of transfers.running()) {
      const { source } = transfer;
      if (transfer.controller.signal.aborted) continue;
      if (source.kind === 'seed') {
        this.#paces.seen(transfer, now);
        continue;
      }
      const index = transfer.pieces.find((i) => !blob.isPieceComplete(i));
      if (index === undefined) continue;
      const remaining = transfer.pieces.reduce((sum, i) => sum + blob.pieceLength(i) - blob.pieceFilled(i), 0);
      if (this.#paces.crawls(transfer, remaining, now)) crawling.push({ transfer, index, remaining });
      if (source.pieceDone !== true && failures.stalledOwnerOf(index) === undefined && this.#paces.stalls(transfer, remaining, now)) stalling.push({ transfer, index, remaining });
      // Only a piece its source holds complete goes at the pace of the links between: one arriving
      // there goes at its own source's (a slow seed's, a slow owner's). A source that has not
      // answered within a window is as slow to this host as one that crawls.
      const unanswered = transfer.timing.openedAt === 0 && now - transfer.timing.startedAt > CRAWL_WINDOW_MS;
      if (unanswered || (source.pieceDone === true && this.#paces.crawling(transfer))) crawlingFrom.add(source.id);
    }
    this.#host.report(this, crawlingFrom, now);
    // The guards below look at every peer: only when there is something to act on.
    if (crawling.length === 0 && stalling.length === 0) return;
    // Two peers or more failing this host at once (connect timeouts, crawling from their disks) is
    // this host's own link too: the slow host of F1 penalised all four healthy ones within seconds.
    if (this.#host.count(now) > 1 || this.#p.sourcing.penalisedPeers() > 1) return;
    for (const judged of crawling) if (this.#alone(judged.transfer, now) && this.#p.sourcing.completeHolderFree(judged.index, judged.transfer.source.id)) this.#move(judged);
    for (const judged of stalling) if (!judged.transfer.controller.signal.aborted && this.#alone(judged.transfer, now, true) && this.#p.sourcing.owner(judged.index) === judged.transfer.source.id) this.#skipOwner(judged);
  }

  #move({ transfer, index, remaining }: Judged): void {
    const { source } = transfer;
    this.#p.failures.movedOff(index, source.id);
    this.#p.logger.info({ digest: this.#p.partial.digest.value, piece: index, source: source.id, remaining }, 'piece transfer crawls while a free peer holds the piece complete; resuming it there');
    transfer.controller.abort(new Error(`${source.id} sends piece ${index} too slowly; a peer holding it complete takes over`));
  }

  #skipOwner({ transfer, index, remaining }: Judged): void {
    const { source } = transfer;
    this.#p.failures.ownerStalled(index, source.id);
    this.#p.logger.info({ digest: this.#p.partial.digest.value, piece: index, source: source.id, remaining }, 'piece owner stalls, far slower than the seed: the next owner gets the piece');
    transfer.controller.abort(new Error(`${source.id}, the owner of piece ${index}, stalls; the next owner gets it`));
  }
}

interface Judged {
  readonly transfer: Transfer;
  readonly index: number;
  readonly remaining: number;
}
