// Upstream authentication: WWW-Authenticate challenges, basic auth, and the registry token flow
// (https://distribution.github.io/distribution/spec/auth/token/): GET realm?service=&scope=,
// Basic credentials to the token server when we have them, tokens cached per scope.
import { OciError } from '../oci/index.ts';
import type { UpstreamCredentials, RequestOptions } from './types.ts';
import { UpstreamError } from './errors.ts';

/** Tokens without `expires_in` live this long (the token spec's default). */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 60;
/** A cached token is dropped this much before it runs out: 10% of its life, at most 10 s. */
const MAX_EXPIRY_MARGIN_MS = 10_000;

export interface AuthChallenge {
  /** lowercase: 'basic', 'bearer', ... */
  readonly scheme: string;
  /** parameter names lowercased: realm, service, scope, error, ... */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;
const PARAM = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/;

/** Parses WWW-Authenticate header value(s) into challenges, in order (RFC 9110 §11.6.1). */
export function parseWwwAuthenticate(header: string | readonly string[] | undefined): AuthChallenge[] {
  const values = header === undefined ? [] : typeof header === 'string' ? [header] : header;
  const challenges: Array<{ scheme: string; params: Record<string, string> }> = [];
  for (const value of values) {
    let current: { scheme: string; params: Record<string, string> } | undefined;
    let rest = value;
    while (rest.length > 0) {
      rest = rest.replace(/^[\s,]+/, '');
      if (rest.length === 0) break;
      const param = current ? PARAM.exec(rest) : null;
      if (param && current) {
        const quoted = param[2];
        current.params[param[1]!.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (param[3] ?? '');
        rest = rest.slice(param[0].length);
        continue;
      }
      const token = TOKEN.exec(rest);
      if (!token) {
        rest = rest.slice(1); // not a token: skip the stray character
        continue;
      }
      current = { scheme: token[0].toLowerCase(), params: {} };
      challenges.push(current);
      rest = rest.slice(token[0].length);
    }
  }
  return challenges;
}

/** The scope the token spec asks for to pull from a repository. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export const CATALOG_SCOPE = 'registry:catalog:*';

export function basicAuthorization(credentials: UpstreamCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

/** A GET to the token server; implemented by the transport (timeouts, error mapping). */
export type TokenFetcher = (url: string, headers: Record<string, string>, options?: RequestOptions) => Promise<{ status: number; body: string }>;

export interface AuthenticatorInit {
  /** host[:port] of the upstream, for messages */
  readonly upstream: string;
  readonly credentials?: UpstreamCredentials;
  /** Where the credentials came from, or where they would be configured, for messages. */
  readonly credentialsSource?: string;
  readonly fetchToken: TokenFetcher;
  readonly now?: () => number;
}

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** The auth state of one upstream: which scheme it asked for, and the tokens it handed out. */
export class Authenticator {
  readonly #init: AuthenticatorInit;
  readonly #now: () => number;
  #scheme: 'basic' | 'bearer' | undefined;
  #bearer: { realm: string; service: string | undefined } | undefined;
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<string>>();
  #issued = 0;

  constructor(init: AuthenticatorInit) {
    this.#init = init;
    this.#now = init.now ?? Date.now;
  }

  /** How many tokens this upstream's token server handed out to us (for tests and status pages). */
  get tokensFetched(): number {
    return this.#issued;
  }

  /** The Authorization header to send up front for `scope`, when the upstream's scheme is known. */
  async authorization(scope: string, options?: RequestOptions): Promise<string | undefined> {
    if (this.#scheme === 'basic' && this.#init.credentials) return basicAuthorization(this.#init.credentials);
    if (this.#scheme !== 'bearer' || !this.#bearer) return undefined;
    return `Bearer ${await this.#token(scope, undefined, options)}`;
  }

  /**
   * Answers a 401: learns the scheme from the challenge and returns the Authorization header to
   * retry with (a fresh token for bearer). Throws UNAUTHORIZED when there is nothing to retry with.
   */
  async respond(scope: string, wwwAuthenticate: string | readonly string[] | undefined, sent: string | undefined, options?: RequestOptions): Promise<string> {
    const challenges = parseWwwAuthenticate(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer) {
      this.#scheme = 'bearer';
      this.#bearer = { realm: bearer.params.realm!, service: bearer.params.service };
      const cached = this.#tokens.get(scope);
      if (cached && sent === `Bearer ${cached.token}`) this.#tokens.delete(scope);
      return `Bearer ${await this.#token(scope, bearer.params.scope, options)}`;
    }
    if (basic) {
      this.#scheme = 'basic';
      if (!this.#init.credentials) throw this.unauthorized(scope, 401, wwwAuthenticate);
      const header = basicAuthorization(this.#init.credentials);
      if (sent === header) throw this.unauthorized(scope, 401, wwwAuthenticate);
      return header;
    }
    throw new OciError('UNAUTHORIZED', `upstream ${this.#init.upstream} answered 401 without a Basic or Bearer challenge shoal can answer (WWW-Authenticate: ${JSON.stringify(String(wwwAuthenticate ?? '')).slice(0, 200)})`);
  }

  /** The error for a request the upstream still refuses after authenticating (401 or 403). */
  unauthorized(scope: string, status: number, wwwAuthenticate?: string | readonly string[]): OciError {
    const upstream = this.#init.upstream;
    const creds = this.#init.credentials;
    const where = this.#init.credentialsSource;
    const error = parseWwwAuthenticate(wwwAuthenticate).find((c) => c.params.error)?.params.error;
    if (!creds) {
      return new OciError(
        'UNAUTHORIZED',
        `upstream ${upstream} requires authentication for ${scope} and no credentials are configured for it: ` +
          `add credentials to its upstream entry in the shoal config, or run \`docker login ${upstream}\`${where ? ` so that ${where} has them` : ''}`,
      );
    }
    const who = `user ${JSON.stringify(creds.username)}${where ? ` (from ${where})` : ''}`;
    if (status === 403 || error === 'insufficient_scope') {
      return new OciError('DENIED', `upstream ${upstream} denied ${who} access to ${scope}: grant that user pull access there, or configure other credentials`);
    }
    return new OciError('UNAUTHORIZED', `upstream ${upstream} rejected the credentials of ${who} for ${scope}: check the username and password${where ? ` in ${where}` : ''}`);
  }

  #token(scope: string, challengeScope: string | undefined, options?: RequestOptions): Promise<string> {
    const cached = this.#tokens.get(scope);
    if (cached && cached.expiresAt > this.#now()) return Promise.resolve(cached.token);
    let pending = this.#inflight.get(scope);
    if (!pending) {
      pending = this.#fetchToken(scope, challengeScope ?? scope, options).finally(() => this.#inflight.delete(scope));
      this.#inflight.set(scope, pending);
    }
    return pending;
  }

  async #fetchToken(cacheKey: string, scope: string, options?: RequestOptions): Promise<string> {
    const { realm, service } = this.#bearer!;
    const creds = this.#init.credentials;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UpstreamError(this.#init.upstream, 401, `upstream ${this.#init.upstream} sent a bearer challenge with an invalid realm ${JSON.stringify(realm)}`);
    }
    if (service !== undefined) url.searchParams.set('service', service);
    for (const one of scope.split(' ').filter(Boolean)) url.searchParams.append('scope', one);
    if (creds) url.searchParams.set('account', creds.username);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (creds) headers.authorization = basicAuthorization(creds);
    const started = this.#now();
    const answer = await this.#init.fetchToken(url.toString(), headers, options);
    if (answer.status === 401 || answer.status === 403) {
      // The token server judged the credentials: say so, with what to fix.
      throw this.unauthorized(scope, answer.status === 403 ? 403 : 401);
    }
    if (answer.status !== 200) {
      throw new UpstreamError(this.#init.upstream, answer.status, `token server ${url.origin}${url.pathname} of upstream ${this.#init.upstream} answered ${answer.status}`);
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(answer.body) as typeof parsed;
    } catch {
      throw new UpstreamError(this.#init.upstream, 200, `token server of upstream ${this.#init.upstream} sent a body that is not JSON`);
    }
    const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new UpstreamError(this.#init.upstream, 200, `token server of upstream ${this.#init.upstream} sent no token`);
    }
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_LIFETIME_SECONDS;
    const lifetimeMs = lifetime * 1000;
    this.#tokens.set(cacheKey, { token, expiresAt: started + lifetimeMs - Math.min(MAX_EXPIRY_MARGIN_MS, lifetimeMs / 10) });
    this.#issued += 1;
    return token;
  }
}
