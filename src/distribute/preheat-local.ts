// One host's share of a cluster preheat: what `shoal prefetch` does through the registry API,
// done inside the daemon — manifests by tag or digest (every child of an index, or the asked
// platform's), then every blob through this host's fetcher (peers first, the seed for the pieces
// this host owns), with the bytes in hand counted as they arrive.
import { INDEX_MEDIA_TYPES, OciError, parseDigest, parseReference, type Digest } from '../oci/index.ts';
import { DEFAULT_PREHEAT_JOBS, formatPreheatImage, type ImageProgress, type PreheatImage, type PreheatPlatform, type PreheatRequest } from '../swarm/index.ts';
import type { Fetcher } from './fetcher.ts';
import type { ManifestService } from './manifest-service.ts';
import { inPool } from '../lib/pool.ts';

const REPORT_MS = 250;
/** Layers registries do not hold (Windows base layers): their bytes live at the descriptor's urls. */
const FOREIGN_LAYER = /\.foreign\.|nondistributable/;

export interface LocalPreheatComponents {
  readonly manifests: Pick<ManifestService, 'resolve'>;
  readonly fetcher: Pick<Fetcher, 'fetch'>;
  /** Size of a blob stored here, undefined when it is not. */
  readonly storedSize: (digest: Digest) => Promise<number | undefined>;
}

export interface ResolvedBlob {
  readonly digest: string;
  readonly size: number;
}

export class LocalPreheat {
  readonly #c: LocalPreheatComponents;

  constructor(components: LocalPreheatComponents) {
    this.#c = components;
  }

  /** Every blob of the image (of the platform asked for); throws with a message a person can act on. */
  async resolve(image: PreheatImage, platform: PreheatPlatform | undefined): Promise<ResolvedBlob[]> {
    const blobs = new Map<string, ResolvedBlob>();
    const visit = async (reference: string, depth: number): Promise<void> => {
      let parsed;
      try {
        ({ parsed } = await this.#c.manifests.resolve(image.name, parseReference(reference)));
      } catch (error) {
        throw notFound(error) ? new OciError('MANIFEST_UNKNOWN', `${formatPreheatImage(image)}: not found: neither this node nor its upstreams have it; check the name and tag (shoal prefetch takes the same names)`) : error;
      }
      if (INDEX_MEDIA_TYPES.includes(parsed.mediaType)) {
        if (depth > 2) throw new OciError('MANIFEST_INVALID', `${formatPreheatImage(image)}: indexes nested deeper than 2 levels`);
        const children = platform === undefined ? parsed.manifests : parsed.manifests.filter((child) => matches(platform, child.platform));
        if (children.length === 0) throw new OciError('MANIFEST_UNKNOWN', `${formatPreheatImage(image)} has no ${platform?.os}/${platform?.architecture} image; pick another --platform, or leave it out for all`);
        for (const child of children) await visit(child.digest.value, depth + 1);
        return;
      }
      for (const blob of parsed.blobs) {
        if (FOREIGN_LAYER.test(blob.mediaType) && blob.urls) continue;
        blobs.set(blob.digest.value, { digest: blob.digest.value, size: blob.size });
      }
    };
    await visit(image.reference, 0);
    return [...blobs.values()];
  }

  /** Pulls every image of the request; never throws: a failed image says why in its progress. `onBlobs` hears each image's blobs once known. */
  async run(request: PreheatRequest, report: (images: readonly ImageProgress[]) => void, signal: AbortSignal, onBlobs?: (blobs: readonly ResolvedBlob[]) => void): Promise<readonly ImageProgress[]> {
    const images = request.images.map((image) => ({ image: formatPreheatImage(image), state: 'waiting', done: 0, total: 0, blobs: 0 }) as Mutable<ImageProgress>);
    const running = new Map<Mutable<ImageProgress>, Set<{ readonly received: number }>>();
    const snapshot = (): ImageProgress[] => images.map((p) => {
      const arriving = [...(running.get(p) ?? [])].reduce((sum, partial) => sum + partial.received, 0);
      return { ...p, done: Math.min(p.total, p.done + arriving) };
    });
    const ticker = setInterval(() => report(snapshot()), REPORT_MS);
    try {
      for (const [i, image] of request.images.entries()) {
        const progress = images[i]!;
        if (signal.aborted) {
          Object.assign(progress, { state: 'failed', error: 'cancelled' });
          continue;
        }
        progress.state = 'resolving';
        report(snapshot());
        try {
          const blobs = await this.resolve(image, request.platform);
          onBlobs?.(blobs);
          Object.assign(progress, { state: 'fetching', total: blobs.reduce((sum, b) => sum + b.size, 0), blobs: blobs.length });
          const partials = new Set<{ readonly received: number }>();
          running.set(progress, partials);
          await inPool(blobs, request.jobs ?? DEFAULT_PREHEAT_JOBS, async (blob) => {
            const size = await this.#fetch(image, blob, partials);
            progress.done += size;
          }, signal);
          progress.state = 'done';
        } catch (error) {
          Object.assign(progress, { state: 'failed', error: (error as Error).message });
        } finally {
          running.delete(progress);
        }
        report(snapshot());
      }
      return snapshot();
    } finally {
      clearInterval(ticker);
    }
  }

  /** Fetches one blob (or finds it stored); resolves to its size once it is committed here. */
  async #fetch(image: PreheatImage, blob: ResolvedBlob, partials: Set<{ readonly received: number }>): Promise<number> {
    const digest = parseDigest(blob.digest);
    if ((await this.#c.storedSize(digest)) !== undefined) return blob.size;
    const partial = await this.#c.fetcher.fetch({ name: image.name, digest });
    if (partial !== undefined) {
      partials.add(partial);
      try {
        await partial.done();
      } finally {
        partials.delete(partial);
      }
    }
    if ((await this.#c.storedSize(digest)) === undefined) throw new Error(`blob ${blob.digest} is held by no peer and no upstream; check this node's upstreams (shoal doctor)`);
    return blob.size;
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function notFound(error: unknown): boolean {
  return error instanceof OciError && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NAME_UNKNOWN');
}

function matches(wanted: PreheatPlatform, actual: { os?: string; architecture?: string; variant?: string } | undefined): boolean {
  if (actual?.os?.toLowerCase() !== wanted.os || actual.architecture?.toLowerCase() !== wanted.architecture) return false;
  return wanted.variant === undefined || actual.variant?.toLowerCase() === wanted.variant;
}
