import type { Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { OciError, type ByteRange, type Digest } from '../oci/index.ts';
import { PeerRequestError, type OwnerAsk, type PeerData } from './peer-data.ts';
import { PeerHttp } from './peer-http.ts';
import { WRITE_BATCH_BYTES } from './piece-run.ts';
import { RANGE_EAGER_BYTES } from './range-first.ts';

export { PeerRequestError, type OwnerAsk, type PeerData } from './peer-data.ts';

/** A peer that does not accept the connection within this long is skipped for this piece. */
export const DEFAULT_PEER_CONNECT_TIMEOUT_MS = 3_000;
/**
 * ... or does not start answering within this long. Longer than the connect timeout: answering
 * needs the peer's event loop, which a busy host (fan-out bench at load 20 on 2 cores) stalls for
 * seconds, and each give-up sends the piece one step nearer the seed.
 */
export const DEFAULT_PEER_TIMEOUT_MS = 10_000;
/**
 * A peer whose body stalls this long mid-piece is given up on; the piece resumes elsewhere. Long:
 * a peer relaying a piece it is fetching from a slow, shared seed (20 Mbit/s for 6 hosts: ~1.5
 * Mbit/s per piece) is honest, and giving up on it sent the piece to the seed again (1.32x egress
 * with 10 s). A stalled seed is caught where it stalls, by the owner's upstream body timeout,
 * which fails the owner's readers at once; a dead peer resets the connection.
 */
export const DEFAULT_PEER_IDLE_MS = 60_000;

export interface PeerClientInit {
  /** With a cluster key: TLS options (its pre-shared key); every request then goes over TLS, never plain HTTP. */
  readonly tls?: ConnectionOptions;
  readonly timeoutMs?: number;
  readonly idleMs?: number;
}

/** The query string of an owner ask (read back by the peer data plane with ownerAskFromQuery). */
export function ownerAskQuery(ask: OwnerAsk): string {
  const query = new URLSearchParams({ repository: ask.repository, size: String(ask.size) });
  if (ask.ns !== undefined) query.set('ns', ask.ns);
  if (ask.from !== undefined) query.set('from', ask.from);
  if (ask.skip !== undefined) query.set('skip', ask.skip);
  return `?${query.toString()}`;
}

/** The query string of a holder's read: who reads (read back with readerFromQuery). */
function readerQuery(from: string | undefined): string {
  return from === undefined ? '' : `?${new URLSearchParams({ from }).toString()}`;
}

/** The reader's peer id in a data-plane request's query, when it gave one (an owner ask's `from` too). */
export function readerFromQuery(query: Readonly<Record<string, unknown>>): string | undefined {
  return peerIdParameter(query.from);
}

/** A peer id given in a query: a single value of at most 128 characters, else none. */
function peerIdParameter(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= 128 ? value : undefined;
}

/**
 * Fetches byte ranges of blobs from other shoal nodes' data planes (HTTP Range GETs, peer-http.ts).
 * The body comes in write batches (write-batches.ts) for the piece engine to write as they are.
 */
export class PeerClient implements PeerData {
  readonly #http: PeerHttp;
  readonly #keyed: boolean;

  constructor(init: PeerClientInit = {}) {
    this.#keyed = init.tls !== undefined;
    this.#http = new PeerHttp({
      tls: init.tls,
      connectTimeoutMs: init.timeoutMs ?? DEFAULT_PEER_CONNECT_TIMEOUT_MS,
      headersTimeoutMs: init.timeoutMs ?? DEFAULT_PEER_TIMEOUT_MS,
      bodyIdleMs: init.idleMs ?? DEFAULT_PEER_IDLE_MS,
      eagerBytes: RANGE_EAGER_BYTES,
      batchBytes: WRITE_BATCH_BYTES,
    });
  }

  async fetchRange(baseUrl: string, digest: Digest, range: ByteRange, signal?: AbortSignal, ask?: OwnerAsk, from?: string): Promise<Readable> {
    const headers: Record<string, string> = { range: `bytes=${range.start}-${range.end}` };
    // A keyed node never asks in the clear: that would show a stranger what it fetches.
    if (this.#keyed && !baseUrl.startsWith('https:')) throw new PeerRequestError(`peer ${baseUrl} is not a TLS data plane; with a cluster key peers are fetched from over TLS only`);
    let response;
    try {
      response = await this.#http.get(new URL(`${baseUrl}/blobs/${digest.value}${ask ? ownerAskQuery(ask) : readerQuery(from)}`), headers, signal);
    } catch (error) {
      throw new PeerRequestError(`peer ${baseUrl} did not answer: ${(error as Error).message}`, undefined, { cause: error });
    }
    const expected = `bytes ${range.start}-${range.end}/`;
    const contentRange = response.headers.get('content-range') ?? '';
    // A body longer than the range asked for would hold the connection for bytes nobody wants.
    const lengthRight = response.headers.get('content-length') === String(range.end - range.start + 1);
    if (response.status !== 206 || !contentRange.startsWith(expected) || !lengthRight) {
      response.body.destroy();
      throw new PeerRequestError(`peer ${baseUrl} answered ${response.status} ${contentRange} for ${digest.value} bytes ${range.start}-${range.end}`, response.status);
    }
    return response.body;
  }

  async close(): Promise<void> {
    this.#http.close();
  }
}

/** The owner ask in a data-plane request's query, if it is one; throws OciError on a malformed one. */
export function ownerAskFromQuery(query: Readonly<Record<string, unknown>>): OwnerAsk | undefined {
  if (query.repository === undefined) return undefined;
  const text = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new OciError('UNSUPPORTED', `query parameter ${name} must be given once`, undefined, { status: 400 });
    return value;
  };
  const size = Number(text('size'));
  if (!/^\d+$/.test(text('size') ?? '') || !Number.isSafeInteger(size)) throw new OciError('SIZE_INVALID', 'an owner ask needs the blob size as a whole number of bytes');
  return { repository: text('repository')!, ns: text('ns'), size, from: text('from'), skip: peerIdParameter(text('skip')) };
}
