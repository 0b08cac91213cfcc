/**
 * Piece requests a host serves at once on its peer port; the rest are told it is busy. A bound
 * for real hot spots, not a pacer: busy answers cost a round trip and a retry each, and tight
 * limits made the fan-out CPU-bound sooner (bench/fanout.bench.ts, one run each, 2 cores: 4 hosts ×
 * 100 Mbit/s, limits 8 total / 2 per piece: 1.49x ideal, daemons 31.8 CPU-s; effectively none:
 * 1.31x, 24.4 CPU-s; 8 × 200 Mbit/s, 16 / 4: 3.27x, 47.2 CPU-s; none: 3.02x, 42.5 CPU-s, and the
 * largest upload share stayed 1.41x fair without them: holders' reported load already spreads askers).
 */
export const DEFAULT_MAX_PEER_SERVES = 32;
/**
 * Askers served one piece at once. The rest are told busy and come back when the first have it
 * (they then hold it too, and the least loaded holder is asked): a piece spreads as a tree, and
 * the host that held it first (its owner, or the only holder) does not send it to every host.
 * Measured with bench/fanout.bench.ts (8 hosts): the largest host's share of all peer uploads was
 * up to 2.1x the fair share with a total limit alone (before holders reported their load); 2 per
 * piece serialised the spread and cost a quarter more CPU (see DEFAULT_MAX_PEER_SERVES). Tried again
 * once askers chained on arriving pieces (piece-progress.ts), 4 hosts × 100 Mbit/s, 64 MiB, single
 * CPU-bound runs: 1 per piece 2.00x and 1.72x ideal, daemons 5.3 and 6.0 CPU-s; 2 per piece 1.61x,
 * 5.8 CPU-s; 8: 1.42–1.99x, 4.4–5.3 CPU-s. The simulation (bench:scale, 8 seeds) agreed: 1.24–1.42x,
 * 1.08–1.29x, 1.06–1.31x. Kept at 8.
 */
export const MAX_SERVES_PER_PIECE = 8;
/** What a busy answer tells the asker to wait (seconds, Retry-After); the engine retries sooner elsewhere. */
export const BUSY_RETRY_AFTER_S = 1;

/**
 * The piece requests this host is serving to peers: a bounded number at once, so one early holder
 * cannot become the bottleneck of a whole fan-out (it answers the rest "busy" at once and they go
 * to another holder). The count is this host's load, told to the swarm as it changes.
 */
export class ServeSlots {
  readonly max: number;
  #inUse = 0;
  readonly #listeners = new Set<(load: number) => void>();
  readonly #perPiece = new Map<string, number>();

  constructor(max = DEFAULT_MAX_PEER_SERVES) {
    this.max = max;
  }

  get inUse(): number {
    return this.#inUse;
  }

  /**
   * A slot, with its release (idempotent); undefined when all are taken, or when `piece` (a key
   * naming the piece asked for) is being served to MAX_SERVES_PER_PIECE askers already.
   */
  acquire(piece?: string): (() => void) | undefined {
    if (this.#inUse >= this.max) return undefined;
    if (piece !== undefined && (this.#perPiece.get(piece) ?? 0) >= MAX_SERVES_PER_PIECE) return undefined;
    if (piece !== undefined) this.#perPiece.set(piece, (this.#perPiece.get(piece) ?? 0) + 1);
    this.#set(this.#inUse + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (piece !== undefined) {
        const left = (this.#perPiece.get(piece) ?? 1) - 1;
        if (left > 0) this.#perPiece.set(piece, left);
        else this.#perPiece.delete(piece);
      }
      this.#set(this.#inUse - 1);
    };
  }

  onChange(listener: (load: number) => void): void {
    this.#listeners.add(listener);
  }

  #set(value: number): void {
    this.#inUse = value;
    for (const listener of this.#listeners) listener(value);
  }
}
