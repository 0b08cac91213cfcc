import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { Digest } from '../oci/index.ts';
import type { Holder, SwarmView } from '../swarm/index.ts';
import type { BlobSource, BlobWant } from './types.ts';

/** Descriptor sizes remembered from manifests served here (a layer's size, before its blob is asked for). */
export const MAX_SIZE_HINTS = 50_000;
/** A peer that announced a blob with another size than the trusted one is not asked for a while. */
export const WRONG_SIZE_PENALTY_MS = 10 * 60_000;

/** Sizes of blobs as manifests describe them: a client pulling through a manifest asks for exactly these. */
export class BlobSizeHints {
  readonly #sizes = new LRUCache<string, number>({ max: MAX_SIZE_HINTS });

  remember(descriptors: Iterable<{ readonly digest: Digest; readonly size: number }>): void {
    for (const { digest, size } of descriptors) if (Number.isSafeInteger(size) && size >= 0) this.#sizes.set(digest.value, size);
  }

  get(digest: string): number | undefined {
    return this.#sizes.get(digest);
  }
}

export interface SizeSources {
  readonly hints: BlobSizeHints;
  readonly seed: BlobSource | undefined;
  readonly swarm: SwarmView | undefined;
  readonly logger: Logger;
}

/**
 * The size a fetch is started with, from the most trusted place that knows it: the manifest
 * descriptor a client pulled through, else the seed (HEAD), else agreement among the holders.
 * Holders that announced another size than a trusted one are penalised. Undefined: nobody has it.
 * Throws when the seed cannot be asked and no peer holds the blob.
 */
export async function resolveBlobSize(want: BlobWant, sources: SizeSources): Promise<number | undefined> {
  const digest = want.digest.value;
  const holders = sources.swarm?.holders(want.digest) ?? [];
  let trusted = sources.hints.get(digest);
  if (trusted === undefined && sources.seed) {
    try {
      trusted = await seedSize(sources.seed, want);
    } catch (error) {
      if (holders.length === 0) throw error;
    }
  }
  if (trusted === undefined) return agreedSize(holders);
  for (const holder of holders) {
    if (holder.size === trusted) continue;
    sources.logger.warn({ digest, peer: holder.peerId, announced: holder.size, size: trusted }, 'peer announced a blob with the wrong size; penalised');
    sources.swarm?.penalise(holder.peerId, `announced ${digest} as ${holder.size} bytes; it is ${trusted}`, WRONG_SIZE_PENALTY_MS);
  }
  return trusted;
}

async function seedSize(seed: BlobSource, want: BlobWant): Promise<number | undefined> {
  if (seed.size) return seed.size(want);
  // A source without HEAD: a one-byte range tells the size too.
  const probe = await seed.open(want, { start: 0, end: 0 });
  // Destroying an unread undici body emits 'error': without a listener the daemon dies.
  probe?.stream.on('error', () => undefined);
  probe?.stream.destroy();
  return probe?.size;
}

/** The size most holders announce (complete holders count double); undefined on a tie or none. */
export function agreedSize(holders: readonly Holder[]): number | undefined {
  const votes = new Map<number, number>();
  for (const h of holders) votes.set(h.size, (votes.get(h.size) ?? 0) + (h.complete ? 2 : 1));
  const ranked = [...votes].sort((a, b) => b[1] - a[1]);
  if (ranked.length === 0 || (ranked.length > 1 && ranked[0]![1] === ranked[1]![1])) return undefined;
  return ranked[0]![0];
}
