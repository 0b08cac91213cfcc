// Whether a blob not stored here exists elsewhere, and its size, for a blob HEAD: the seed's HEAD
// in that repository, else what the swarm's holders of the whole blob agree on.
import type { SwarmView } from '../swarm/index.ts';
import { agreedSize } from './blob-size.ts';
import type { BlobSource, BlobWant } from './types.ts';

/**
 * How long a blob HEAD waits for the seed's answer: a pusher waits on it for every layer (a seed
 * dropping packets held each for the upstream's 30 s timeout: pushes took 61 s instead of 1.1 s).
 */
export const REMOTE_HEAD_TIMEOUT_MS = 5_000;

export class RemoteSizes {
  readonly #swarm: SwarmView | undefined;
  readonly #seedFor: (want: BlobWant) => BlobSource | undefined;
  /** Seed HEADs while they run, shared by identical HEADs asking at once (a storm was one seed request each). */
  readonly #seedHeads = new Map<string, Promise<number | undefined>>();

  /** `seedFor`: the repository's seed, if it has one. */
  constructor(swarm: SwarmView | undefined, seedFor: (want: BlobWant) => BlobSource | undefined) {
    this.#swarm = swarm;
    this.#seedFor = seedFor;
  }

  /**
   * `seedOnly`: the seed's word alone. Descriptor
   * sizes are not asked: they say what a manifest names, not who has it. Undefined when no source
   * has it, or none answers.
   */
  async size(want: BlobWant, seedOnly = false): Promise<number | undefined> {
    const seed = this.#seedFor(want);
    const fromSeed = seed ? await this.#seedHead(seed, want) : undefined;
    if (fromSeed !== undefined || seedOnly || !this.#swarm) return fromSeed;
    // Only a holder of the whole blob can serve it: after a fetch failed, hosts still announce
    // the pieces they kept, which said 200 for a blob nobody could send (re-audit).
    return agreedSize(this.#swarm.holders(want.digest).filter((holder) => holder.complete));
  }

  #seedHead(seed: BlobSource, want: BlobWant): Promise<number | undefined> {
    const key = `${want.ns ?? ''}\u0000${want.name}\u0000${want.digest.value}`;
    let asking = this.#seedHeads.get(key);
    if (!asking) {
      asking = (seed.size?.(want, { timeoutMs: REMOTE_HEAD_TIMEOUT_MS }) ?? Promise.resolve(undefined))
        .catch(() => undefined)
        .finally(() => this.#seedHeads.delete(key));
      this.#seedHeads.set(key, asking);
    }
    return asking;
  }
}
