import { Readable } from 'node:stream';
import type { ByteRange, Digest } from '../oci/index.ts';
import { PeerRequestError, type OwnerAsk, type PeerData } from './peer-data.ts';

/** What one in-memory peer answers: the bytes, `busy`, or undefined when it has not got them. */
export interface MemoryPeerHost {
  size(digest: Digest): number | undefined;
  read(digest: Digest, range: ByteRange, ask: OwnerAsk | undefined, from?: string): Promise<Readable | 'busy' | undefined>;
}

/**
 * PeerData without sockets: peers are hosts registered under a base URL. It answers as the HTTP
 * client does (the same PeerRequestError statuses), so the piece engine and a simulation of many
 * hosts can run on it.
 */
export class MemoryPeerData implements PeerData {
  readonly #hosts = new Map<string, MemoryPeerHost>();

  /** Serves `host` at `baseUrl` until the returned function is called (the peer goes away). */
  serve(baseUrl: string, host: MemoryPeerHost): () => void {
    this.#hosts.set(baseUrl, host);
    return () => {
      if (this.#hosts.get(baseUrl) === host) this.#hosts.delete(baseUrl);
    };
  }

  async fetchRange(baseUrl: string, digest: Digest, range: ByteRange, signal?: AbortSignal, ask?: OwnerAsk, from?: string): Promise<Readable> {
    const host = this.#hosts.get(baseUrl);
    if (!host) throw new PeerRequestError(`peer ${baseUrl} did not answer: nobody serves there`);
    if (signal?.aborted) throw new PeerRequestError(`peer ${baseUrl} did not answer: ${String(signal.reason)}`, undefined, { cause: signal.reason });
    const size = host.size(digest);
    if (size === undefined) throw new PeerRequestError(`peer ${baseUrl} answered 404 for ${digest.value}`, 404);
    if (range.start > range.end || range.end >= size) throw new PeerRequestError(`peer ${baseUrl} answered 416 for ${digest.value} bytes ${range.start}-${range.end}`, 416);
    const answer = await host.read(digest, range, ask, from);
    if (answer === 'busy') throw new PeerRequestError(`peer ${baseUrl} answered 503 for ${digest.value}`, 503);
    if (!answer) throw new PeerRequestError(`peer ${baseUrl} answered 404 for ${digest.value}`, 404);
    return answer;
  }

  async close(): Promise<void> {
    this.#hosts.clear();
  }
}

/** An in-memory peer holding whole blobs. */
export function memoryBlobHost(blobs: ReadonlyMap<string, Uint8Array>, options: { busy?: () => boolean } = {}): MemoryPeerHost {
  return {
    size: (digest) => blobs.get(digest.value)?.byteLength,
    read: async (digest, range) => {
      if (options.busy?.()) return 'busy';
      const bytes = blobs.get(digest.value);
      return bytes ? Readable.from([Buffer.from(bytes.subarray(range.start, range.end + 1))]) : undefined;
    },
  };
}
