// Peers this host holds back for a while, and why: a penalty keeps a peer out of the holders it
// offers; a harsher one (a protocol violation) also refuses its connections. Expired penalties
// are forgotten when next looked at.
import type { Penalty } from './types.ts';

export class Penalties {
  readonly #now: () => number;
  readonly #penalties = new Map<string, Penalty>();

  constructor(now: () => number) {
    this.#now = now;
  }

  /** A longer or harsher penalty replaces a shorter one; a milder one never shortens a ban. */
  penalise(peerId: string, reason: string, durationMs: number, refuseConnections: boolean): Penalty {
    const until = this.#now() + Math.max(0, durationMs);
    const known = this.active(peerId);
    const penalty: Penalty = {
      peerId, reason, until: Math.max(until, known?.until ?? 0), refuseConnections: refuseConnections || (known?.refuseConnections ?? false),
    };
    this.#penalties.set(peerId, penalty);
    return penalty;
  }

  /** The peer's penalty while it runs. */
  active(peerId: string): Penalty | undefined {
    const penalty = this.#penalties.get(peerId);
    if (penalty === undefined) return undefined;
    if (penalty.until > this.#now()) return penalty;
    this.#penalties.delete(peerId);
    return undefined;
  }

  all(): Penalty[] {
    return [...this.#penalties.keys()].flatMap((peerId) => this.active(peerId) ?? []);
  }
}
