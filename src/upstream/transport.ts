// HTTP to one upstream: timeouts, redirects, the auth retry, and the mapping of network errors,
// 5xx and 429 to UpstreamUnavailableError. Callers get every other answer as it came. Blob GETs
// (`bulk`) go through lib/http1-client.ts, which reads a body straight into the piece engine's
// write batches; tokens, manifests, lists and HEADs through undici.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Agent, buildConnector, request, type Dispatcher } from 'undici';
import { Http1Client } from '../lib/http1-client.ts';
import { batchHolds, receiveRoom, takeBatch } from '../store/write-batches.ts';
import type { UpstreamTlsConfig, RequestOptions } from './types.ts';
import type { Authenticator, TokenFetcher } from './auth.ts';
import { UpstreamError, UpstreamUnavailableError, parseRetryAfter } from './errors.ts';
import { diagnoseTls, tlsFailureOf, tlsFix } from './tls-errors.ts';
import { DEFAULT_DOCKER_CERTS_DIR, upstreamTls, type TlsConnectOptions } from './tls.ts';

/** Connect + response headers, when the owner sets nothing (config's upstreamTimeoutMs normally does). */
export const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * Longest silence inside a response body before the request is dropped, when the owner sets
 * nothing (config's upstreamBodyTimeoutMs normally does). The body then fails with
 * UND_ERR_BODY_TIMEOUT and the fetch engine resumes the bytes from another source.
 */
export const DEFAULT_BODY_IDLE_TIMEOUT_MS = 20_000;
export const MAX_REDIRECTS = 5;
export const USER_AGENT = 'shoal/0.1 (+registry mirror)';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * How a blob body is passed on: its first bytes read by read, then in write batches of the piece
 * engine's size, which it writes as they are (distribute/range-first.ts RANGE_EAGER_BYTES and
 * piece-run.ts WRITE_BATCH_BYTES; a test holds them equal).
 */
export const BLOB_EAGER_BYTES = 128 * 1024;
export const BLOB_BATCH_BYTES = 512 * 1024;

/** A response body: undici's, or the blob body client's (same dump()). */
export type ResponseBody = Readable & { dump(options?: { limit?: number }): Promise<void> };

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: ResponseBody;
  /** The URL that answered, after redirects. */
  readonly url: string;
}

export interface SendOptions extends RequestOptions {
  readonly headers?: Record<string, string>;
  /** The token scope this request needs; when set, 401 answers are met with auth and one retry. */
  readonly scope?: string;
  /** A blob GET: its body comes in write batches (see BLOB_BATCH_BYTES), not through undici. */
  readonly bulk?: boolean;
}

export interface TransportInit {
  readonly baseUrl: string;
  /** host[:port], for messages */
  readonly host: string;
  readonly timeoutMs?: number;
  readonly bodyIdleTimeoutMs?: number;
  readonly userAgent?: string;
  /** A dispatcher to share (tests, connection limits); by default the transport owns an Agent. */
  readonly dispatcher?: Dispatcher;
  /** The upstream's TLS settings; the system CA store and docker's certs.d folder apply without them. */
  readonly tls?: UpstreamTlsConfig;
  /** docker's certs.d root (config's dockerCertsDir). */
  readonly certsDir?: string;
}

export class Transport {
  readonly #base: URL;
  readonly #host: string;
  readonly #timeoutMs: number;
  readonly #bodyIdleMs: number;
  readonly #userAgent: string;
  readonly #init: TransportInit;
  readonly #certsDir: string;
  #dispatcher: Dispatcher | undefined;
  #bulk: Http1Client | undefined;
  #tls: TlsConnectOptions | undefined;
  readonly #ownsDispatcher: boolean;
  authenticator: Authenticator | undefined;

  constructor(init: TransportInit) {
    this.#init = init;
    this.#base = new URL(init.baseUrl);
    this.#host = init.host;
    this.#timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#bodyIdleMs = init.bodyIdleTimeoutMs ?? DEFAULT_BODY_IDLE_TIMEOUT_MS;
    this.#userAgent = init.userAgent ?? USER_AGENT;
    this.#certsDir = init.certsDir ?? DEFAULT_DOCKER_CERTS_DIR;
    this.#ownsDispatcher = init.dispatcher === undefined;
    this.#dispatcher = init.dispatcher;
  }

  /**
   * The Agent, made on first use: the TLS files are read then, so a broken certs.d folder of a
   * registry named ad hoc fails its requests with a clear message instead of the router.
   * (Configured upstreams had their files checked when the configuration was loaded.)
   */
  #agent(): Dispatcher {
    if (this.#dispatcher) return this.#dispatcher;
    this.#dispatcher = new Agent({ headersTimeout: this.#timeoutMs, bodyTimeout: this.#bodyIdleMs, connect: this.#connector() });
    return this.#dispatcher;
  }

  /**
   * undici's connector, with the TLS options read at the first https: connection: the system CA
   * store and a context built from it hold ~8 MiB for good (Node caches the parsed certificates),
   * which a node whose seed speaks plain HTTP never needs (bench/memory.bench.ts).
   */
  #connector(): buildConnector.connector {
    const plain = buildConnector({ timeout: this.#timeoutMs });
    let tls: buildConnector.connector | undefined;
    return (options, callback) => {
      if (options.protocol !== 'https:') return plain(options, callback);
      try {
        tls ??= buildConnector({ timeout: this.#timeoutMs, ...this.#tlsOptions() });
      } catch (error) {
        return callback(error as Error, null);
      }
      return tls(options, callback);
    };
  }

  #tlsOptions(): TlsConnectOptions {
    try {
      this.#tls ??= upstreamTls(this.#base.toString(), this.#init.tls, this.#certsDir);
    } catch (error) {
      throw new UpstreamUnavailableError(this.#host, `upstream ${this.#host}: ${(error as Error).message}`, { cause: error });
    }
    return this.#tls;
  }

  /** The blob body client, made on first use like the Agent; none when a dispatcher was given (tests and limits apply to every request). */
  #bulkClient(): Http1Client | undefined {
    if (this.#init.dispatcher) return undefined;
    if (this.#bulk) return this.#bulk;
    this.#bulk = new Http1Client({
      tls: () => {
        const { secureContext, rejectUnauthorized } = this.#tlsOptions();
        return { secureContext, rejectUnauthorized };
      },
      connectTimeoutMs: this.#timeoutMs,
      headersTimeoutMs: this.#timeoutMs,
      bodyIdleMs: this.#bodyIdleMs,
      eagerBytes: BLOB_EAGER_BYTES,
      batchBytes: BLOB_BATCH_BYTES,
      alignBatches: true,
      takeBatch,
      holds: batchHolds,
      room: receiveRoom,
      label: `upstream ${this.#host}`,
    });
    return this.#bulk;
  }

  /** One request through undici, or a blob GET through the body client: the answer in undici's shape. */
  async #request(method: string, url: string, headers: Record<string, string>, options: SendOptions, signal: AbortSignal, timeoutMs: number): Promise<{ statusCode: number; headers: IncomingHttpHeaders; body: ResponseBody }> {
    const bulk = options.bulk === true && method === 'GET' ? this.#bulkClient() : undefined;
    if (!bulk) return request(url, { method: method as Dispatcher.HttpMethod, headers, signal, dispatcher: this.#agent(), headersTimeout: timeoutMs, bodyTimeout: this.#bodyIdleMs });
    const answer = await bulk.get(new URL(url), headers, signal, timeoutMs);
    return { statusCode: answer.status, headers: answer.fields, body: answer.body };
  }

  /** `/v2/<path>` under the base URL (a base path prefix is kept). */
  url(path: string): string {
    const prefix = this.#base.pathname.replace(/\/+$/, '');
    return new URL(`${prefix}${path}`, this.#base).toString();
  }

  /**
   * Sends a request to the upstream, authenticating when it asks (one retry), following
   * redirects. 429 and 5xx throw UpstreamUnavailableError; 401/403 left after auth throw OciError.
   */
  async send(method: string, url: string, options: SendOptions = {}): Promise<UpstreamResponse> {
    const auth = this.authenticator;
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...options.headers };
    let sent = options.scope && auth ? await auth.authorization(options.scope, options) : undefined;
    if (sent) headers.authorization = sent;
    let response = await this.exchange(method, url, headers, options);
    if (response.status === 401 && options.scope && auth) {
      const challenge = response.headers['www-authenticate'];
      await discard(response);
      sent = await auth.respond(options.scope, challenge, sent, options);
      response = await this.exchange(method, url, { ...headers, authorization: sent }, options);
      if (response.status === 401) {
        await discard(response);
        throw auth.unauthorized(options.scope, 401, response.headers['www-authenticate']);
      }
    }
    if ((response.status === 401 || response.status === 403) && options.scope && auth) {
      await discard(response);
      throw auth.unauthorized(options.scope, response.status, response.headers['www-authenticate']);
    }
    if (response.status === 429 || response.status >= 500) {
      await discard(response);
      const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
      throw new UpstreamUnavailableError(this.#host, `upstream ${this.#host} answered ${response.status} to ${method} ${new URL(url).pathname}`, {
        status: response.status,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
    }
    return response;
  }

  /** One request, following redirects; the Authorization header never leaves the origin it was meant for. */
  async exchange(method: string, url: string, headers: Record<string, string>, options: SendOptions, redirectsLeft = MAX_REDIRECTS): Promise<UpstreamResponse> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(), timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timer.signal]) : timer.signal;
    let answer: { statusCode: number; headers: IncomingHttpHeaders; body: ResponseBody };
    try {
      answer = await this.#request(method, url, headers, options, signal, timeoutMs);
    } catch (error) {
      if (error instanceof UpstreamUnavailableError) throw error;
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      const code = (error as { code?: string }).code;
      if (timer.signal.aborted || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
        throw new UpstreamUnavailableError(this.#host, `upstream ${this.#host} did not answer ${method} ${new URL(url).pathname} within ${timeoutMs} ms`, { cause: error });
      }
      const tls = tlsFailureOf(error, this.#tls?.sentClientCert) ?? (code === 'UND_ERR_SOCKET' && this.#tls ? await diagnoseTls(url, this.#tls, timeoutMs) : undefined);
      if (tls) {
        throw new UpstreamUnavailableError(this.#host, `TLS with upstream ${this.#host} (${new URL(url).host}) failed: ${tls.code}: ${tlsFix(tls.problem, url, this.#certsDir)}`, { cause: error });
      }
      throw new UpstreamUnavailableError(this.#host, `cannot reach upstream ${this.#host} (${new URL(url).host}): ${code ? `${code}: ` : ''}${(error as Error).message}`, { cause: error });
    } finally {
      clearTimeout(timeout);
    }
    const location = answer.headers.location;
    if (REDIRECTS.has(answer.statusCode) && typeof location === 'string') {
      await discard({ body: answer.body });
      if (redirectsLeft <= 0) throw new UpstreamError(this.#host, answer.statusCode, `upstream ${this.#host}: more than ${MAX_REDIRECTS} redirects from ${method} ${new URL(url).pathname}`);
      const next = new URL(location, url);
      const nextHeaders = { ...headers };
      if (next.origin !== new URL(url).origin) delete nextHeaders.authorization;
      const nextMethod = answer.statusCode === 303 && method !== 'HEAD' ? 'GET' : method;
      return this.exchange(nextMethod, next.toString(), nextHeaders, options, redirectsLeft - 1);
    }
    return { status: answer.statusCode, headers: answer.headers, body: answer.body, url };
  }

  /** The token server GET, for the Authenticator. */
  readonly fetchToken: TokenFetcher = async (url, headers, options = {}) => {
    const response = await this.exchange('GET', url, { 'user-agent': this.#userAgent, ...headers }, options);
    if (response.status === 429 || response.status >= 500) {
      await discard(response);
      throw new UpstreamUnavailableError(this.#host, `token server ${new URL(url).host} of upstream ${this.#host} answered ${response.status}`, { status: response.status });
    }
    const body = await readBody(response, 1024 * 1024, this.#host);
    return { status: response.status, body: body.toString('utf8') };
  };

  async close(): Promise<void> {
    this.#bulk?.close();
    if (this.#ownsDispatcher) await this.#dispatcher?.close();
  }
}

/** Reads a whole (small) body, refusing more than `limit` bytes. */
export async function readBody(response: Pick<UpstreamResponse, 'body' | 'status'>, limit: number, host: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += (chunk as Buffer).byteLength;
    if (total > limit) {
      response.body.destroy();
      throw new UpstreamError(host, response.status, `upstream ${host} sent a body larger than ${limit} bytes where a small one was expected`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/** Drops a body we do not need (keeps the connection reusable for small bodies). */
export async function discard(response: { body: ResponseBody }): Promise<void> {
  try {
    await response.body.dump({ limit: 64 * 1024 });
  } catch {
    // a body that fails while being thrown away changes nothing
  }
}
