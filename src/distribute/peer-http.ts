// The HTTP/1.1 client behind PeerClient: Range GETs to other shoal nodes' data planes, which
// always answer with a Content-Length. It exists for the bytes' sake: each connection reads the
// socket into one buffer of its own, reused for every read (net's `onread`), and copies the body
// straight into write batches (write-batches.ts) that the piece engine writes to the blob as they
// are. Through undici, each 64 KiB socket read was a fresh ArrayBuffer, then a body chunk, a
// promise and an iterator step, and coalesce.ts copied it into a batch once more; a peer's piece
// transfer cost the receiver twice what a raw socket does, much of it in the garbage collector
// (bench/peer-transfer.bench.ts).
import { connect as connectTcp, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { takeBatch } from '../store/write-batches.ts';

export interface PeerHttpInit {
  /** With a cluster key: every connection is TLS with these options. */
  readonly tls?: ConnectionOptions | undefined;
  readonly connectTimeoutMs: number;
  /** From the request to the end of the response head. */
  readonly headersTimeoutMs: number;
  /** Longest silence inside a body. */
  readonly bodyIdleMs: number;
  /** Body bytes passed on read by read (a range read's first bytes: range-first.ts) before batching starts. */
  readonly eagerBytes: number;
  /** Size of the batches the rest of a body is passed on in. */
  readonly batchBytes: number;
}

export interface PeerResponse {
  readonly status: number;
  /** Header names in lower case. */
  readonly headers: ReadonlyMap<string, string>;
  /** Exactly Content-Length bytes, in handed-over write batches: whoever writes one gives it back (releaseBatch). */
  readonly body: Readable;
}

/**
 * One socket read's room. Larger than the 64 KiB Node reads into by default: on a fast link the
 * kernel has more queued, and each read is a syscall and a trip through the event loop.
 */
const READ_BYTES = 256 * 1024;
const MAX_HEAD_BYTES = 16 * 1024;
/** An idle connection is closed after this long, or earlier when the peer says it closes sooner (Keep-Alive: timeout). */
const KEEP_ALIVE_MS = 30_000;
const HEAD_END = Buffer.from('\r\n\r\n');

/** The connection failed before any byte of an answer came back. */
class NoAnswer extends Error {}

interface Connection {
  readonly socket: Socket;
  readonly key: string;
  /** One read's bytes, buffer[0, length) (valid during the call only); false pauses the socket. */
  onBytes: ((buffer: Buffer, length: number) => boolean) | undefined;
  onGone: ((error: Error) => void) | undefined;
  idleTimer: NodeJS.Timeout | undefined;
}

export class PeerHttp {
  readonly #init: PeerHttpInit;
  readonly #idle = new Map<string, Connection[]>();
  #closed = false;

  constructor(init: PeerHttpInit) {
    this.#init = init;
  }

  /** GET `url` with `headers`; resolves once the response head arrived. */
  async get(url: URL, headers: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<PeerResponse> {
    signal?.throwIfAborted();
    if (this.#closed) throw new Error('the peer client is closed');
    const key = `${url.protocol}//${url.host}`;
    const reused = this.#takeIdle(key);
    try {
      return await this.#exchange(reused ?? this.#connect(url, key), url, headers, signal);
    } catch (error) {
      // A kept-alive connection the peer closed meanwhile fails before answering: once more on a new one.
      if (reused && error instanceof NoAnswer && !signal?.aborted) return this.#exchange(this.#connect(url, key), url, headers, signal).catch((retried: unknown) => {
        throw unwrap(retried);
      });
      throw unwrap(error);
    }
  }

  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const connection of list) connection.socket.destroy();
    this.#idle.clear();
  }

  #takeIdle(key: string): Connection | undefined {
    const list = this.#idle.get(key);
    for (let connection = list?.pop(); connection; connection = list?.pop()) {
      clearTimeout(connection.idleTimer);
      if (!connection.socket.destroyed) return connection;
    }
    return undefined;
  }

  #connect(url: URL, key: string): Connection {
    const buffer = Buffer.allocUnsafeSlow(READ_BYTES);
    const connection: Connection = { socket: undefined as unknown as Socket, key, onBytes: undefined, onGone: undefined, idleTimer: undefined };
    const onread = { buffer, callback: (length: number, read: Uint8Array) => connection.onBytes?.(read as Buffer, length) ?? false };
    const options = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)), onread };
    const socket = url.protocol === 'https:' ? connectTls({ ...this.#init.tls, ...options }) : connectTcp(options);
    (connection as { socket: Socket }).socket = socket;
    socket.setNoDelay(true);
    const connectTimer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${this.#init.connectTimeoutMs} ms`)), this.#init.connectTimeoutMs);
    socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    const gone = (error?: Error): void => {
      clearTimeout(connectTimer);
      clearTimeout(connection.idleTimer);
      const handler = connection.onGone;
      connection.onGone = undefined;
      connection.onBytes = undefined;
      handler?.(error ?? new Error('the peer closed the connection'));
    };
    socket.on('error', gone);
    socket.once('end', () => {
      socket.destroy();
      gone();
    });
    socket.once('close', () => gone());
    socket.on('timeout', () => socket.destroy(new Error('the peer went silent')));
    return connection;
  }

  #release(connection: Connection, keepAliveMs: number): void {
    connection.onBytes = undefined;
    connection.onGone = undefined;
    const { socket } = connection;
    if (this.#closed || socket.destroyed || keepAliveMs <= 0) {
      socket.destroy();
      return;
    }
    socket.setTimeout(0);
    socket.unref();
    // Bytes or an end while idle: the connection is no longer fit to reuse.
    connection.onBytes = () => {
      socket.destroy();
      return false;
    };
    connection.idleTimer = setTimeout(() => socket.destroy(), keepAliveMs);
    connection.idleTimer.unref();
    const list = this.#idle.get(connection.key) ?? [];
    list.push(connection);
    this.#idle.set(connection.key, list);
  }

  #exchange(connection: Connection, url: URL, headers: Readonly<Record<string, string>>, signal: AbortSignal | undefined): Promise<PeerResponse> {
    const { socket } = connection;
    socket.ref();
    socket.setTimeout(this.#init.headersTimeoutMs);
    return new Promise<PeerResponse>((resolve, reject) => {
      let head: Buffer | undefined;
      let body: PeerBody | undefined;
      const onAbort = (): void => {
        socket.destroy(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => signal?.removeEventListener('abort', onAbort);
      connection.onGone = (error) => {
        settle();
        if (body) body.destroy(error);
        else reject(head ? error : new NoAnswer(error.message, { cause: error }));
      };
      connection.onBytes = (buffer, length) => {
        if (body) return body.receive(buffer, 0, length);
        // Only the head is copied out of the read buffer (the body's first bytes usually share its read).
        const before = head?.length ?? 0;
        const found = (head ? Buffer.concat([head, buffer.subarray(0, Math.min(length, MAX_HEAD_BYTES))]) : buffer.subarray(0, length)).indexOf(HEAD_END, Math.max(0, before - 3));
        if (found < 0) {
          head = Buffer.concat(head ? [head, buffer.subarray(0, length)] : [buffer.subarray(0, length)]);
          if (head.length > MAX_HEAD_BYTES) socket.destroy(new Error(`the peer's response head is over ${MAX_HEAD_BYTES} bytes`));
          return true;
        }
        const end = found;
        const bodyStart = end + HEAD_END.length - before;
        head = Buffer.concat(head ? [head, buffer.subarray(0, bodyStart)] : [buffer.subarray(0, bodyStart)]);
        let parsed: ReturnType<typeof parseHead>;
        try {
          parsed = parseHead(head.toString('latin1', 0, end));
        } catch (error) {
          socket.destroy(error as Error);
          return false;
        }
        socket.setTimeout(this.#init.bodyIdleMs);
        body = new PeerBody(parsed.length, this.#init, () => socket.resume(), (error) => socket.destroy(error), () => {
          settle();
          this.#release(connection, parsed.keepAliveMs);
        });
        resolve({ status: parsed.status, headers: parsed.headers, body });
        return bodyStart >= length || body.receive(buffer, bodyStart, length);
      };
      const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    });
  }
}

function unwrap(error: unknown): unknown {
  return error instanceof NoAnswer && error.cause instanceof Error ? error.cause : error;
}

/** Status, headers, body length and how long the connection may idle from a response head. */
function parseHead(text: string): { status: number; headers: Map<string, string>; length: number; keepAliveMs: number } {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
  if (status === undefined) throw new Error(`the peer answered with no HTTP status line (${JSON.stringify(statusLine.slice(0, 40))})`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const length = headers.get('content-length');
  if (headers.has('transfer-encoding') || length === undefined || !/^\d+$/.test(length)) throw new Error('the peer answered without a Content-Length (a shoal data plane always sends one)');
  const closes = /\bclose\b/i.test(headers.get('connection') ?? '') || statusLine.startsWith('HTTP/1.0');
  const hinted = /timeout=(\d+)/i.exec(headers.get('keep-alive') ?? '')?.[1];
  // A second short of the peer's own idle limit: a request must not meet the connection as it closes.
  const keepAliveMs = closes ? 0 : Math.min(KEEP_ALIVE_MS, hinted === undefined ? KEEP_ALIVE_MS : Number(hinted) * 1000 - 1000);
  return { status: Number(status), headers, length: Number(length), keepAliveMs };
}

/**
 * A response body: the first `eagerBytes` passed on read by read, the rest in batches of
 * `batchBytes`; each a write batch of its own (write-batches.ts), held once for the reader.
 */
class PeerBody extends Readable {
  #remaining: number;
  #passed = 0;
  #batch: Buffer | undefined;
  #filled = 0;
  readonly #init: PeerHttpInit;
  readonly #resume: () => void;
  readonly #abort: (error: Error) => void;
  readonly #finished: () => void;

  constructor(length: number, init: PeerHttpInit, resume: () => void, abort: (error: Error) => void, finished: () => void) {
    super({ highWaterMark: init.batchBytes });
    this.#remaining = length;
    this.#init = init;
    this.#resume = resume;
    this.#abort = abort;
    this.#finished = finished;
    if (length === 0) this.#end();
  }

  /** Copies buffer[start, end) in; false: the reader is behind, pause the socket. */
  receive(buffer: Buffer, start: number, end: number): boolean {
    if (end - start > this.#remaining) {
      this.#abort(new Error(`the peer sent more than the ${this.#passed + this.#remaining} bytes it announced`));
      return false;
    }
    let room = true;
    for (let at = start; at < end; ) {
      const eager = this.#passed < this.#init.eagerBytes;
      const size = eager ? this.#init.eagerBytes : this.#init.batchBytes;
      this.#batch ??= takeBatch(size);
      const take = Math.min(end - at, size - this.#filled, eager ? this.#init.eagerBytes - this.#passed : Infinity);
      buffer.copy(this.#batch, this.#filled, at, at + take);
      at += take;
      this.#filled += take;
      this.#passed += take;
      this.#remaining -= take;
      if (eager || this.#filled === size || this.#remaining === 0) room = this.#flush();
    }
    if (this.#remaining === 0) this.#end();
    return room;
  }

  #flush(): boolean {
    const batch = this.#batch!;
    const filled = this.#filled;
    this.#batch = undefined;
    this.#filled = 0;
    return this.push(filled === batch.byteLength ? batch : batch.subarray(0, filled));
  }

  #end(): void {
    this.push(null);
    this.#finished();
  }

  override _read(): void {
    this.#resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Gone before its last byte: the connection is mid-body and cannot be reused.
    if (this.#remaining > 0) this.#abort(error ?? new Error('the response body was abandoned'));
    callback(error);
  }
}
