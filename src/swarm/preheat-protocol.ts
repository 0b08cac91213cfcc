// The preheat protocol: one member asks another to pull images, and hears its progress until it
// is done. One stream per request: the asker writes the request, the worker answers with a
// progress frame every second (also its heartbeat) and a final frame, then closes. Length-prefixed
// JSON like the announce protocol. On a keyed swarm (pnet) only key holders can open a connection
// at all, so only they can ask; the worker also refuses askers that are not members it knows.
import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import * as lp from 'it-length-prefixed';
import { isValidRepositoryName, parseReference } from '../oci/index.ts';
import type { SwarmNode } from './node.ts';

export const PREHEAT_PROTOCOL = '/shoal/preheat/1.0.0';
export const MAX_PREHEAT_IMAGES = 64;
/** Blobs one node fetches at once for a preheat: `--jobs`, as for shoal prefetch. */
export const DEFAULT_PREHEAT_JOBS = 4;
export const MAX_PREHEAT_JOBS = 32;
const MAX_FRAME_BYTES = 256 * 1024;
/** How often a worker reports; its reports are the asker's proof that it still works. */
export const PREHEAT_REPORT_MS = 1_000;
/** An asker gives a node up as lost after this long without a report. */
export const DEFAULT_PREHEAT_SILENCE_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_ERROR_CHARS = 1_000;

export interface PreheatImage {
  readonly name: string;
  /** A tag or a digest. */
  readonly reference: string;
}

export interface PreheatPlatform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface PreheatRequest {
  readonly images: readonly PreheatImage[];
  /** Only this platform of multi-platform images; absent: every platform. */
  readonly platform?: PreheatPlatform;
  /** Blobs each node fetches at once; absent: DEFAULT_PREHEAT_JOBS. */
  readonly jobs?: number;
}

export type ImageState = 'waiting' | 'resolving' | 'fetching' | 'done' | 'failed';

export interface ImageProgress {
  /** `name:tag` or `name@digest`. */
  readonly image: string;
  readonly state: ImageState;
  readonly done: number;
  readonly total: number;
  readonly blobs: number;
  readonly error?: string;
}

/** Pulls the request's images on this host, telling `report` as it goes; resolves to the final progress. */
export type PreheatRunner = (request: PreheatRequest, report: (images: readonly ImageProgress[]) => void, signal: AbortSignal, asker: string) => Promise<readonly ImageProgress[]>;

/** A request or an answer that breaks the protocol; its message says which field. */
export class PreheatProtocolError extends Error {
  override readonly name = 'PreheatProtocolError';
}

export function formatPreheatImage(image: PreheatImage): string {
  return `${image.name}${image.reference.includes(':') ? '@' : ':'}${image.reference}`;
}

/** Checks a request from anywhere (a peer, the admin API); throws PreheatProtocolError naming the bad field. */
export function parsePreheatRequest(value: unknown): PreheatRequest {
  const body = value as { images?: unknown; platform?: unknown; jobs?: unknown } | null;
  if (typeof body !== 'object' || body === null || !Array.isArray(body.images)) throw new PreheatProtocolError('a preheat request needs a list of images');
  if (body.images.length === 0 || body.images.length > MAX_PREHEAT_IMAGES) throw new PreheatProtocolError(`a preheat takes 1 to ${MAX_PREHEAT_IMAGES} images, not ${body.images.length}`);
  const images = body.images.map((entry: unknown): PreheatImage => {
    const { name, reference } = (entry ?? {}) as { name?: unknown; reference?: unknown };
    if (typeof name !== 'string' || !isValidRepositoryName(name)) throw new PreheatProtocolError(`${JSON.stringify(String(name).slice(0, 300))} is not a valid repository name`);
    if (typeof reference !== 'string') throw new PreheatProtocolError(`${name}: the reference must be a tag or a digest`);
    try {
      parseReference(reference);
    } catch (error) {
      throw new PreheatProtocolError(`${name}: ${(error as Error).message}`);
    }
    return { name, reference };
  });
  const jobs = body.jobs;
  if (jobs !== undefined && !(typeof jobs === 'number' && Number.isSafeInteger(jobs) && jobs >= 1 && jobs <= MAX_PREHEAT_JOBS)) {
    throw new PreheatProtocolError(`jobs must be a whole number from 1 to ${MAX_PREHEAT_JOBS}`);
  }
  const withJobs = jobs === undefined ? {} : { jobs };
  if (body.platform === undefined) return { images, ...withJobs };
  const { os, architecture, variant } = (body.platform ?? {}) as Record<string, unknown>;
  const word = (v: unknown): v is string => typeof v === 'string' && /^[a-z0-9_.-]{1,64}$/.test(v);
  if (!word(os) || !word(architecture) || (variant !== undefined && !word(variant))) throw new PreheatProtocolError('platform must be {os, architecture, variant?} in lowercase');
  return { images, platform: { os, architecture, ...(variant !== undefined ? { variant } : {}) }, ...withJobs };
}

const STATES = new Set<ImageState>(['waiting', 'resolving', 'fetching', 'done', 'failed']);

function parseProgress(value: unknown): ImageProgress[] {
  if (!Array.isArray(value) || value.length > MAX_PREHEAT_IMAGES) throw new PreheatProtocolError('progress must list at most one entry per image');
  return value.map((entry: unknown) => {
    const p = (entry ?? {}) as Record<string, unknown>;
    const count = (v: unknown): number => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new PreheatProtocolError('progress counts must be whole numbers');
      return v;
    };
    if (typeof p.image !== 'string' || p.image.length > 600 || !STATES.has(p.state as ImageState)) throw new PreheatProtocolError('progress entries need an image and a known state');
    const error = typeof p.error === 'string' ? { error: p.error.slice(0, MAX_ERROR_CHARS) } : {};
    return { image: p.image, state: p.state as ImageState, done: count(p.done), total: count(p.total), blobs: count(p.blobs), ...error };
  });
}

function frame(message: object): Uint8Array {
  return lp.encode.single(Buffer.from(JSON.stringify(message))).subarray();
}

async function write(stream: Stream, message: object): Promise<void> {
  if (stream.writeStatus !== 'writable') throw new Error('the preheat stream is closed');
  if (stream.writableNeedsDrain) await stream.onDrain();
  stream.send(frame(message));
}

function decode(body: Uint8Array): Record<string, unknown> {
  try {
    return JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new PreheatProtocolError('a preheat frame is not JSON');
  }
}

export interface PreheatProtocolInit {
  readonly runner: PreheatRunner;
  /** Whether this peer may ask (a member this host knows); the cluster key already kept strangers off. */
  readonly mayAsk: (peerId: string) => boolean;
  readonly onError?: (peerId: string, error: Error) => void;
}

/** The worker side (handle) and the asking side (ask) of the protocol on one libp2p node. */
export class PreheatProtocol {
  readonly #init: PreheatProtocolInit;
  #node: SwarmNode | undefined;

  constructor(init: PreheatProtocolInit) {
    this.#init = init;
  }

  async start(node: SwarmNode): Promise<void> {
    this.#node = node;
    await node.handle(PREHEAT_PROTOCOL, (stream, connection) => void this.#serve(stream, connection), { maxInboundStreams: 4, maxOutboundStreams: 8 });
  }

  async stop(): Promise<void> {
    await this.#node?.unhandle(PREHEAT_PROTOCOL).catch(() => undefined);
    this.#node = undefined;
  }

  /**
   * Asks `peerId` to preheat; `onReport` hears each progress report. Resolves to the final
   * progress; rejects when the peer refuses, goes silent for `silenceMs`, or the stream ends early.
   */
  async ask(peerId: string, request: PreheatRequest, onReport: (images: readonly ImageProgress[]) => void, options: { signal?: AbortSignal; silenceMs?: number } = {}): Promise<readonly ImageProgress[]> {
    const node = this.#node;
    if (node === undefined) throw new Error('the swarm is not running');
    const silenceMs = options.silenceMs ?? DEFAULT_PREHEAT_SILENCE_MS;
    // A timer cleared once the stream is open: it bounds the dial only, never the preheat after it.
    const dialing = new AbortController();
    const dialTimer = setTimeout(() => dialing.abort(new Error(`could not open a preheat stream within ${REQUEST_TIMEOUT_MS / 1000} s`)), REQUEST_TIMEOUT_MS);
    let stream: Stream;
    try {
      stream = await node.dialProtocol(peerIdFromString(peerId), PREHEAT_PROTOCOL, { signal: dialing.signal });
    } finally {
      clearTimeout(dialTimer);
    }
    let silence: NodeJS.Timeout | undefined;
    let reason: Error | undefined;
    const abort = (error: Error): void => {
      reason ??= error;
      stream.abort(error);
    };
    const listen = (): void => {
      clearTimeout(silence);
      silence = setTimeout(() => abort(new Error(`no report for ${Math.round(silenceMs / 1000)} s`)), silenceMs);
    };
    const onAbort = (): void => abort(new Error('cancelled'));
    options.signal?.addEventListener('abort', onAbort);
    try {
      listen();
      await write(stream, { type: 'preheat', ...request });
      for await (const body of lp.decode(stream, { maxDataLength: MAX_FRAME_BYTES })) {
        listen();
        const message = decode(body.subarray());
        if (message.type === 'error') throw new PreheatProtocolError(`refused: ${String(message.message).slice(0, MAX_ERROR_CHARS)}`);
        const images = parseProgress(message.images);
        if (message.type === 'done') return images;
        onReport(images);
      }
      throw new Error('the node closed the preheat stream before it finished');
    } catch (error) {
      // A connection found dead by its keep-alive says only "aborted due to timeout".
      throw reason ?? ((error as Error).name === 'TimeoutError' ? new Error('its connection timed out') : error);
    } finally {
      clearTimeout(silence);
      options.signal?.removeEventListener('abort', onAbort);
      if (stream.status === 'open') void stream.close().catch(() => undefined);
    }
  }

  async #serve(stream: Stream, connection: Connection): Promise<void> {
    const asker = connection.remotePeer.toString();
    const controller = new AbortController();
    stream.addEventListener('close', () => controller.abort(new Error('the asker went away')));
    let ticker: NodeJS.Timeout | undefined;
    try {
      if (!this.#init.mayAsk(asker)) {
        await write(stream, { type: 'error', message: 'not a member of this swarm' });
        return;
      }
      let request: PreheatRequest;
      try {
        request = await readRequest(stream);
      } catch (error) {
        await write(stream, { type: 'error', message: (error as Error).message });
        return;
      }
      let latest: readonly ImageProgress[] = [];
      ticker = setInterval(() => void write(stream, { type: 'progress', images: latest }).catch(() => controller.abort()), PREHEAT_REPORT_MS);
      const images = await this.#init.runner(request, (images) => (latest = images), controller.signal, asker);
      clearInterval(ticker);
      await write(stream, { type: 'done', images });
    } catch (error) {
      if (!controller.signal.aborted) this.#init.onError?.(asker, error as Error);
      stream.abort(error as Error);
    } finally {
      clearInterval(ticker);
      if (stream.status === 'open') await stream.close().catch(() => undefined);
    }
  }
}

/** The first frame only: the iterator is not returned, which would end the stream's reading side under us. */
async function readRequest(stream: Stream): Promise<PreheatRequest> {
  const timeout = setTimeout(() => stream.abort(new Error('no preheat request in time')), REQUEST_TIMEOUT_MS);
  try {
    const first = await lp.decode(stream, { maxDataLength: MAX_FRAME_BYTES })[Symbol.asyncIterator]().next();
    if (first.done === true) throw new PreheatProtocolError('the stream ended before a request');
    const message = decode(first.value.subarray());
    if (message.type !== 'preheat') throw new PreheatProtocolError(`expected a preheat request, got ${JSON.stringify(String(message.type)).slice(0, 40)}`);
    return parsePreheatRequest(message);
  } finally {
    clearTimeout(timeout);
  }
}
