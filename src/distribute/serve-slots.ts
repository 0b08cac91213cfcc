/** Piece requests a host serves at once on its peer port; the rest are told it is busy. */
export const DEFAULT_MAX_PEER_SERVES = 16;
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

  constructor(max = DEFAULT_MAX_PEER_SERVES) {
    this.max = max;
  }

  get inUse(): number {
    return this.#inUse;
  }

  /** A slot, with its release (idempotent); undefined when all are taken. */
  acquire(): (() => void) | undefined {
    if (this.#inUse >= this.max) return undefined;
    this.#set(this.#inUse + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
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
