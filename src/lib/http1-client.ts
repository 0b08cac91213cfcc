// An HTTP/1.1 client for GETs of large bodies: the peer data plane's Range GETs (peer-http.ts) and
// the seed's blob GETs (upstream/transport.ts). It exists for the bytes' sake. All connections
// share one read buffer for response heads and chunked bodies, and a body with a
// Content-Length is read by the socket straight into the write batch being filled (net's `onread`
// with a buffer function: http1-body.ts), which the piece engine writes to the blob as it is.
// Through undici each 64 KiB socket read was a fresh ArrayBuffer, then a body chunk, a promise
// and an iterator step, and coalesce.ts copied it into a batch once more: a peer's piece transfer
// cost the receiver twice what a raw socket does, much of it in the garbage collector
// (bench/peer-transfer.bench.ts). Keep-alive connections per origin, connect / head / body-idle
// timeouts, TLS with the caller's options (a pre-shared key, or CAs and a client certificate).
// The timeouts run on the steady clock (steady-clock.ts): a process that could not run does not
// take the other end for silent. 16 hosts in one process under four busy loops (swarm-committee:
// event loop late 0.3 s at the median, 2 s at p99) took an owner's answer 11 s in coming for a
// 10 s headers timeout, gave up on it, and the next owner read the piece from the seed again.
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import type { BodyBatches } from './http1-body-parts.ts';
import { Http1Body } from './http1-body.ts';
import { Http1Error, parseHead, type ParsedHead } from './http1-head.ts';
import { steadyNow, steadyTimeout } from './steady-clock.ts';

export { Http1Error } from './http1-head.ts';

export interface Http1ClientInit extends BodyBatches {
  /** Options of every https: connection, or a function giving them, called at each https: connection (so a plain-HTTP client never builds them). */
  readonly tls?: ConnectionOptions | (() => ConnectionOptions) | undefined;
  readonly connectTimeoutMs: number;
  /** From the request to the end of the response head, unless a request sets its own. */
  readonly headersTimeoutMs: number;
  /** Longest silence inside a body. */
  readonly bodyIdleMs: number;
  /** Who answers, in messages: "the peer", "upstream registry.example". */
  readonly label: string;
  /** Refuse answers without a Content-Length (a shoal data plane always sends one). */
  readonly requireLength?: boolean;
}

export interface Http1Response {
  readonly status: number;
  /** Header names in lower case; a repeated header's values joined with ", ". */
  readonly headers: ReadonlyMap<string, string>;
  /** The same as Node's http module gives them: a repeated header as a list (WWW-Authenticate may come twice). */
  readonly fields: Readonly<Record<string, string | string[]>>;
  /** The body in handed-over write batches: whoever writes one gives it back (releaseBatch). */
  readonly body: Http1Body;
}


/**
 * One socket read's room. Larger than the 64 KiB Node reads into by default: on a fast link the
 * kernel has more queued, and each read is a syscall and a trip through the event loop.
 */
const READ_BYTES = 256 * 1024;
/**
 * The read buffer every connection shares. A read's bytes are taken out of it (parsed, copied into
 * a batch) during the read's callback, and reads run one at a time on this thread, so one buffer
 * serves them all: one per connection was 7-8 MiB of a fan-out daemon with ~30 connections to
 * peers and the seed (bench:fanout, 8 hosts), nearly all of it never read into (bodies are read
 * into their batches).
 */
let sharedReadBuffer: Buffer | undefined;

/**
 * TCP keep-alive probes after this long without a packet (libuv then probes every second, ten
 * times): a peer or seed that vanished from the network (a pulled cable, a switch port down, a
 * frozen VM: no reset ever comes) is found out ~15 s after its last byte, where the body's idle
 * limit waited 60 s and every host's pull stood still meanwhile (multi-host audit: 75-94 s for a
 * 12 s pull). One that is alive but has nothing to send yet (an owner relaying a slow seed) answers
 * the probes and is left to the idle limit.
 */
export const KEEPALIVE_IDLE_MS = 5_000;
const readBuffer = (): Buffer => (sharedReadBuffer ??= Buffer.allocUnsafeSlow(READ_BYTES));
const MAX_HEAD_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

/** The connection failed before any byte of an answer came back. */
class NoAnswer extends Error {}

interface Connection {
  readonly socket: Socket;
  readonly key: string;
  /** One read's bytes, buffer[0, length) (valid during the call only); false pauses the socket. */
  onBytes: ((buffer: Buffer, length: number) => boolean) | undefined;
  onGone: ((error: Error | undefined) => void) | undefined;
  /** The body being read, while it takes reads straight into its batches. */
  body: Http1Body | undefined;
  /** The body's buffer the socket reads into next, if it is one. */
  target: Buffer | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  /** The silence allowed now (head or body), and when (steady clock) the socket last read or the request went out. */
  quietMs: number;
  activeAt: number;
}

export class Http1Client {
  readonly #init: Http1ClientInit;
  readonly #idle = new Map<string, Connection[]>();
  #closed = false;

  constructor(init: Http1ClientInit) {
    this.#init = init;
  }

  /** GET `url` with `headers`; resolves once the response head arrived. */
  async get(url: URL, headers: Readonly<Record<string, string>>, signal?: AbortSignal, headersTimeoutMs = this.#init.headersTimeoutMs): Promise<Http1Response> {
    signal?.throwIfAborted();
    if (this.#closed) throw new Error('the HTTP client is closed');
    // A value from elsewhere (a token server's token) must not add lines to the request.
    for (const [name, value] of Object.entries(headers)) {
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Http1Error('UND_ERR_INVALID_ARG', `invalid request header ${JSON.stringify(name)}: it holds a line break`);
    }
    const key = `${url.protocol}//${url.host}`;
    const reused = this.#takeIdle(key);
    try {
      return await this.#exchange(reused ?? this.#connect(url, key), url, headers, signal, headersTimeoutMs);
    } catch (error) {
      // A kept-alive connection the server closed meanwhile fails before answering: once more on a
      // new one. Not after a headers timeout: a server silent that long is gone or stuck, not one
      // that closed an idle connection, and a retry added a connect timeout to the wait for a
      // vanished peer (fault audit F4: 13 s per request sent to an unplugged holder).
      if (reused && error instanceof NoAnswer && !signal?.aborted && !silent(error)) return this.#exchange(this.#connect(url, key), url, headers, signal, headersTimeoutMs).catch((retried: unknown) => {
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
    const connection: Connection = { socket: undefined as unknown as Socket, key, onBytes: undefined, onGone: undefined, body: undefined, target: undefined, idleTimer: undefined, quietMs: 0, activeAt: steadyNow() };
    // Node asks for the next read's buffer right after each read: the body's batch while it takes one.
    const onread = {
      buffer: () => {
        connection.target = connection.body?.target();
        return connection.target ?? readBuffer();
      },
      callback: (length: number, read: Uint8Array) => {
        connection.activeAt = steadyNow();
        return connection.onBytes?.(read as Buffer, length) ?? false;
      },
    };
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const options = { host, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)), onread };
    const tls = url.protocol === 'https:';
    const tlsOptions = tls && typeof this.#init.tls === 'function' ? this.#init.tls() : this.#init.tls;
    const socket = tls ? connectTls({ ...(isIP(host) === 0 ? { servername: host } : {}), ...tlsOptions, ...options }) : connectTcp(options);
    (connection as { socket: Socket }).socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    const cancelConnectTimer = steadyTimeout(this.#init.connectTimeoutMs, () => socket.destroy(new Http1Error('UND_ERR_CONNECT_TIMEOUT', `connect timeout after ${this.#init.connectTimeoutMs} ms`)));
    socket.once(tls ? 'secureConnect' : 'connect', cancelConnectTimer);
    const gone = (error?: Error): void => {
      cancelConnectTimer();
      clearTimeout(connection.idleTimer);
      const handler = connection.onGone;
      connection.onGone = undefined;
      connection.onBytes = undefined;
      handler?.(error);
    };
    socket.on('error', gone);
    socket.once('end', () => {
      socket.destroy();
      gone();
    });
    socket.once('close', () => gone());
    socket.on('timeout', () => {
      const quiet = steadyNow() - connection.activeAt;
      if (quiet < connection.quietMs) return void socket.setTimeout(Math.ceil(connection.quietMs - quiet));
      const code = connection.body ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT';
      socket.destroy(new Http1Error(code, `${this.#init.label} went silent for ${connection.quietMs} ms`));
    });
    return connection;
  }

  /** The longest silence allowed from now on, judged on the steady clock (see the 'timeout' handler). */
  #quiet(connection: Connection, ms: number): void {
    connection.quietMs = ms;
    connection.socket.setTimeout(ms);
  }

  #release(connection: Connection, keepAliveMs: number): void {
    connection.onBytes = undefined;
    connection.onGone = undefined;
    connection.body = undefined;
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
    // A kept connection reads: an idle one to see the server close it, a reused one to get its
    // answer. A read callback that returns false stops the socket after it returns, and a resume
    // from inside it is undone; so the read that finishes a body never returns false (#exchange),
    // and a connection stopped by an earlier read (its reader was behind) is started again here.
    // A stopped kept connection sat out the whole headers timeout and its piece went to the seed
    // again (pull-through test: 100 GETs of one blob, 2 seed GETs).
    socket.resume();
    connection.idleTimer = setTimeout(() => socket.destroy(), keepAliveMs);
    connection.idleTimer.unref();
    const list = this.#idle.get(connection.key) ?? [];
    list.push(connection);
    this.#idle.set(connection.key, list);
  }

  #exchange(connection: Connection, url: URL, headers: Readonly<Record<string, string>>, signal: AbortSignal | undefined, headersTimeoutMs: number): Promise<Http1Response> {
    const { socket } = connection;
    const label = this.#init.label;
    socket.ref();
    connection.activeAt = steadyNow();
    this.#quiet(connection, headersTimeoutMs);
    return new Promise<Http1Response>((resolve, reject) => {
      let head: Buffer | undefined;
      let body: Http1Body | undefined;
      const onAbort = (): void => {
        socket.destroy(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => signal?.removeEventListener('abort', onAbort);
      connection.onGone = (error) => {
        settle();
        connection.body = undefined;
        // A body that lasts as long as the connection ends cleanly with it.
        if (body && !error && !body.done) body.connectionEnded();
        if (body && !body.done) body.destroy(error ?? new Http1Error('UND_ERR_SOCKET', `${label} closed the connection in the middle of the body`));
        else if (!body) {
          const closed = error ?? new Http1Error('UND_ERR_SOCKET', `${label} closed the connection${head ? ' in the middle of the response head' : ' without answering'}`);
          reject(head ? closed : new NoAnswer(closed.message, { cause: closed }));
        }
      };
      connection.onBytes = (buffer, length) => {
        // A read that finished the body has released the connection (idle, or the next request's):
        // it must not stop reading, whatever the body's reader said (see #release).
        if (body) return (buffer === connection.target ? body.landed(length) : body.receive(buffer, 0, length)) || body.done;
        // Only the head is copied out of the read buffer (the body's first bytes usually share its read).
        const before = head?.length ?? 0;
        const found = (head ? Buffer.concat([head, buffer.subarray(0, Math.min(length, MAX_HEAD_BYTES))]) : buffer.subarray(0, length)).indexOf(HEAD_END, Math.max(0, before - 3));
        if (found < 0) {
          head = Buffer.concat(head ? [head, buffer.subarray(0, length)] : [buffer.subarray(0, length)]);
          if (head.length > MAX_HEAD_BYTES) socket.destroy(new Http1Error('UND_ERR_HEADERS_OVERFLOW', `${label}'s response head is over ${MAX_HEAD_BYTES} bytes`));
          return true;
        }
        const bodyStart = found + HEAD_END.length - before;
        head = Buffer.concat(head ? [head, buffer.subarray(0, bodyStart)] : [buffer.subarray(0, bodyStart)]);
        let parsed: ParsedHead;
        try {
          parsed = parseHead(head.toString('latin1', 0, found), label, this.#init.requireLength === true);
        } catch (error) {
          socket.destroy(error as Error);
          return false;
        }
        this.#quiet(connection, this.#init.bodyIdleMs);
        body = new Http1Body(parsed.framing, this.#init, {
          resume: () => socket.resume(),
          abort: (error) => socket.destroy(error),
          finished: (reusable) => {
            settle();
            this.#release(connection, reusable ? parsed.keepAliveMs : 0);
          },
        }, label);
        if (!body.done) connection.body = body;
        resolve({ status: parsed.status, headers: parsed.headers, fields: parsed.fields, body });
        return bodyStart >= length || body.receive(buffer, bodyStart, length) || body.done;
      };
      const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    });
  }
}

/** A request that got no answer because the server said nothing for the headers timeout. */
function silent(error: NoAnswer): boolean {
  return error.cause instanceof Http1Error && error.cause.code === 'UND_ERR_HEADERS_TIMEOUT';
}

function unwrap(error: unknown): unknown {
  return error instanceof NoAnswer && error.cause instanceof Error ? error.cause : error;
}
