import type { Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { Agent, request } from 'undici';
import type { ByteRange, Digest } from '../oci/index.ts';

/** A peer that does not start answering within this long is skipped for this piece. */
export const DEFAULT_PEER_TIMEOUT_MS = 3_000;
/** A peer whose body stalls this long mid-piece is given up on; the piece resumes elsewhere. */
export const DEFAULT_PEER_IDLE_MS = 10_000;

export interface PeerClientInit {
  /** With a cluster key: TLS options (its pre-shared key); every request then goes over TLS, never plain HTTP. */
  readonly tls?: ConnectionOptions;
  readonly timeoutMs?: number;
  readonly idleMs?: number;
}

export class PeerRequestError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PeerRequestError';
    this.status = status;
  }
}

/** Fetches byte ranges of blobs from other shoal nodes' data planes (HTTP Range GETs). */
export class PeerClient {
  readonly #agent: Agent;
  readonly #keyed: boolean;

  constructor(init: PeerClientInit = {}) {
    this.#keyed = init.tls !== undefined;
    this.#agent = new Agent({
      ...(init.tls ? { connect: init.tls } : {}),
      connectTimeout: init.timeoutMs ?? DEFAULT_PEER_TIMEOUT_MS,
      headersTimeout: init.timeoutMs ?? DEFAULT_PEER_TIMEOUT_MS,
      bodyTimeout: init.idleMs ?? DEFAULT_PEER_IDLE_MS,
      connections: 8,
      keepAliveTimeout: 30_000,
    });
  }

  async fetchRange(baseUrl: string, digest: Digest, range: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const headers: Record<string, string> = { range: `bytes=${range.start}-${range.end}` };
    // A keyed node never asks in the clear: that would show a stranger what it fetches.
    if (this.#keyed && !baseUrl.startsWith('https:')) throw new PeerRequestError(`peer ${baseUrl} is not a TLS data plane; with a cluster key peers are fetched from over TLS only`);
    let response;
    try {
      response = await request(`${baseUrl}/blobs/${digest.value}`, { dispatcher: this.#agent, headers, ...(signal ? { signal } : {}) });
    } catch (error) {
      throw new PeerRequestError(`peer ${baseUrl} did not answer: ${(error as Error).message}`, undefined, { cause: error });
    }
    const expected = `bytes ${range.start}-${range.end}/`;
    const contentRange = String(response.headers['content-range'] ?? '');
    if (response.statusCode !== 206 || !contentRange.startsWith(expected)) {
      response.body.resume();
      throw new PeerRequestError(`peer ${baseUrl} answered ${response.statusCode} ${contentRange} for ${digest.value} bytes ${range.start}-${range.end}`, response.statusCode);
    }
    return response.body;
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
