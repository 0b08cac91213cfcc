import { Readable } from 'node:stream';
import { OciError, type ByteRange } from '../oci/index.ts';
import type { BlobSource, BlobWant, SourceStream, UpstreamRouter } from './types.ts';

/** The seed registries, in the order the router gives them for the repository. */
export class UpstreamBlobSource implements BlobSource {
  readonly kind = 'seed';
  readonly #router: UpstreamRouter;

  constructor(router: UpstreamRouter) {
    this.#router = router;
  }

  size(want: BlobWant, options: { readonly timeoutMs?: number } = {}): Promise<number | undefined> {
    return headSize(this.#router, want, options);
  }

  async open(want: BlobWant, range?: ByteRange, signal?: AbortSignal): Promise<SourceStream | undefined> {
    let failure: unknown;
    for (const { upstream, remoteName } of this.#router.targets(want.name, want.ns)) {
      try {
        const blob = await upstream.getBlob(remoteName, want.digest, range, signal ? { signal } : {});
        if (!blob) continue;
        if (range && !blob.range && range.start > 0) {
          // The upstream ignored Range: skip the bytes we already have.
          return { size: blob.size, stream: skipBytes(blob.stream, range.start) };
        }
        return { size: blob.size, stream: blob.stream };
      } catch (error) {
        failure = error;
      }
    }
    if (failure) throw seedFailure(want, failure);
    return undefined;
  }
}

/** `size` of UpstreamBlobSource: HEAD at each target in turn. */
async function headSize(router: UpstreamRouter, want: BlobWant, options: { readonly timeoutMs?: number }): Promise<number | undefined> {
  let failure: unknown;
  for (const { upstream, remoteName } of router.targets(want.name, want.ns)) {
    try {
      const size = await upstream.headBlob(remoteName, want.digest, options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {});
      if (size !== undefined) return size;
    } catch (error) {
      failure = error;
    }
  }
  if (failure) throw seedFailure(want, failure);
  return undefined;
}

/** The last upstream's failure, as the spec error a client gets. */
function seedFailure(want: BlobWant, failure: unknown): OciError {
  return failure instanceof OciError ? failure : new OciError('UNAVAILABLE', `the seed registry could not be reached for ${want.digest.value}: ${(failure as Error).message}`, undefined, { cause: failure });
}

function skipBytes(stream: Readable, count: number): Readable {
  let remaining = count;
  async function* skip(): AsyncGenerator<Buffer> {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (remaining >= chunk.byteLength) {
        remaining -= chunk.byteLength;
        continue;
      }
      yield remaining > 0 ? chunk.subarray(remaining) : chunk;
      remaining = 0;
    }
  }
  return Readable.from(skip(), { objectMode: false });
}
