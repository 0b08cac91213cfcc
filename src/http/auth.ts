// Logins and who may push on the registry API: the policy and the tokens (htpasswd-users.ts
// keeps the users and checks their passwords).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { formatHostPort } from '../lib/host-port.ts';
import { isLoopback } from '../lib/loopback.ts';
import { OciError } from '../oci/index.ts';
import { parseAuthorization } from './authorization.ts';
import { sendError } from './errors.ts';
import { HtpasswdUsers } from './htpasswd-users.ts';
import { parseEndpoint, splitUrl } from './paths.ts';
import { PREHEAT_PATH } from './routes/preheat.ts';

/**
 * Users and who may do what on the registry API, when an htpasswd file is configured.
 *
 * Policy:
 * - A user of the htpasswd file (Basic credentials, or a token this node issued for them) may do
 *   everything. Wrong credentials, an expired or foreign token: 401, whatever the request.
 * - Anonymous clients may pull (GET/HEAD) when `anonymous-pull` allows it for their address
 *   (`loopback`: clients on this host; `all`; `none`). They may never push or delete
 *   (POST/PUT/PATCH/DELETE): 401.
 * - `GET /v2/` without any credentials is 401, on loopback too: that challenge is what makes
 *   `docker login` send credentials, and what makes docker send them with a push.
 *
 * The challenge depends on the client. Docker answers a `Basic` challenge on `/v2/` without a
 * login with "no basic auth credentials" and does not pull at all (measured with dockerd 20.10),
 * so where anonymous pulls are allowed the challenge is `Bearer` with this node as its own token
 * issuer (`/_shoal/token`, the registry token flow Docker Hub uses): docker without a login gets
 * an anonymous token and pulls; after `docker login` it gets a token for its user with the
 * password checked against the htpasswd file. Where anonymous pulls are not allowed the challenge
 * is `Basic realm="shoal"`, as registry:2's htpasswd auth sends it. Basic credentials are accepted
 * on every request either way (curl -u, skopeo --creds).
 */
export type AnonymousPull = 'loopback' | 'all' | 'none';

/**
 * A preheat only makes nodes pull (and its route takes loopback clients only): it is allowed to
 * whoever may pull here, so `shoal preheat` works on a node with an htpasswd file.
 */
function isWrite(method: string, path: string): boolean {
  return WRITE_METHODS.has(method) && path !== PREHEAT_PATH;
}

export const TOKEN_PATH = '/_shoal/token';
export const REALM = 'shoal';
/** Tokens live this long; docker fetches a new one per pull or push (and when one expires). */
export const TOKEN_TTL_SECONDS = 300;
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface RegistryAuthOptions {
  readonly htpasswdPath: string;
  readonly anonymousPull: AnonymousPull;
  readonly logger: Logger;
  readonly now?: () => number;
}

type Identity =
  | { readonly kind: 'none' }
  | { readonly kind: 'anonymous-token' }
  | { readonly kind: 'user'; readonly name: string }
  | { readonly kind: 'invalid'; readonly reason: string; readonly bearer: boolean };

type Decision = { readonly allow: true } | { readonly allow: false; readonly message: string; readonly invalidToken?: boolean };

export class RegistryAuth {
  readonly #anonymousPull: AnonymousPull;
  readonly #now: () => number;
  /** Per process: tokens die with the process. */
  readonly #secret = randomBytes(32);
  readonly #users: HtpasswdUsers;

  private constructor(options: RegistryAuthOptions, users: HtpasswdUsers) {
    this.#anonymousPull = options.anonymousPull;
    this.#now = options.now ?? Date.now;
    this.#users = users;
  }

  static async open(options: RegistryAuthOptions): Promise<RegistryAuth> {
    return new RegistryAuth(options, await HtpasswdUsers.open(options.htpasswdPath, options.logger, options.now ?? Date.now));
  }

  get users(): number {
    return this.#users.size;
  }

  /** bcrypt comparisons run so far (the cache's effect is visible in tests and metrics). */
  get bcryptChecks(): number {
    return this.#users.bcryptChecks;
  }

  /** fastify onRequest hook for the registry app: lets the request through or answers 401. */
  readonly onRequest = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const { path } = splitUrl(request.raw.url ?? request.url);
    if (path === TOKEN_PATH) return undefined; // authenticates itself
    const local = isLoopback(request.socket.remoteAddress);
    const decision = await this.decide(request.method, path, request.headers.authorization, local);
    if (decision.allow) return undefined;
    this.#refuse(request, reply, decision.message, { path, write: isWrite(request.method, path), local, invalidToken: decision.invalidToken === true });
    return reply;
  };

  /** GET /_shoal/token: a token for the user of the Basic credentials, or an anonymous one where anonymous pulls are allowed. */
  readonly token = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const local = isLoopback(request.socket.remoteAddress);
    const identity = await this.#identify(request.headers.authorization);
    let subject: string;
    if (identity.kind === 'user') subject = identity.name;
    else if (identity.kind === 'invalid') return this.#refuseBasic(request, reply, identity.reason);
    else if (this.#anonymousAllowed(local)) subject = '';
    else return this.#refuseBasic(request, reply, this.#anonymousRefusal(local));
    const issuedAt = this.#now();
    const token = this.#issue(subject, issuedAt);
    return reply.code(200).header('cache-control', 'no-store').header('content-type', 'application/json; charset=utf-8').send(JSON.stringify({
      token,
      access_token: token,
      expires_in: TOKEN_TTL_SECONDS,
      issued_at: new Date(issuedAt).toISOString(),
    }));
  };

  /** The policy, without HTTP: exported for the tests and for `shoal doctor`-style checks. */
  async decide(method: string, path: string, authorization: string | undefined, local: boolean): Promise<Decision> {
    const identity = await this.#identify(authorization);
    if (identity.kind === 'invalid') return { allow: false, message: identity.reason, invalidToken: identity.bearer };
    if (identity.kind === 'user') return { allow: true };
    if (isWrite(method, path)) {
      return { allow: false, message: `${method} needs a login: docker login with a user of the htpasswd file (anonymous clients may only pull)` };
    }
    if (identity.kind === 'none' && (path === '/v2' || path === '/v2/')) {
      const anonymous = this.#anonymousAllowed(local)
        ? 'pulls work without a login from here (docker fetches an anonymous token by itself)'
        : this.#anonymousRefusal(local).replace(/: docker login first$/, '');
      return { allow: false, message: `authentication required: docker login with a user of the htpasswd file; ${anonymous}` };
    }
    if (this.#anonymousAllowed(local)) return { allow: true };
    return { allow: false, message: this.#anonymousRefusal(local) };
  }

  #anonymousAllowed(local: boolean): boolean {
    return this.#anonymousPull === 'all' || (this.#anonymousPull === 'loopback' && local);
  }

  #anonymousRefusal(local: boolean): string {
    return local || this.#anonymousPull === 'none'
      ? 'anonymous pulls are off on this node (anonymous-pull none): docker login first'
      : 'anonymous pulls are allowed from this host only (anonymous-pull loopback): docker login first';
  }

  async #identify(authorization: string | undefined): Promise<Identity> {
    await this.#users.reloadIfChanged();
    if (authorization === undefined || authorization.trim() === '') return { kind: 'none' };
    const parsed = parseAuthorization(authorization);
    if (!parsed) return { kind: 'invalid', reason: `the Authorization header is malformed: use Basic credentials or a token from ${TOKEN_PATH}`, bearer: false };
    const { scheme, credentials: value } = parsed;
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = colon < 0 ? decoded : decoded.slice(0, colon);
      const password = colon < 0 ? '' : decoded.slice(colon + 1);
      // Some clients send empty Basic credentials when they have none.
      if (user === '' && password === '') return { kind: 'none' };
      if (await this.#users.verify(user, password)) return { kind: 'user', name: user };
      return { kind: 'invalid', reason: 'wrong user name or password', bearer: false };
    }
    if (scheme === 'bearer') return this.#verifyToken(value);
    return { kind: 'invalid', reason: `the ${JSON.stringify(scheme.slice(0, 20))} Authorization scheme is not supported here: use Basic or a token from ${TOKEN_PATH}`, bearer: false };
  }

  #issue(subject: string, issuedAt: number): string {
    const payload = Buffer.from(JSON.stringify({ sub: subject, exp: Math.floor(issuedAt / 1000) + TOKEN_TTL_SECONDS })).toString('base64url');
    return `${payload}.${this.#mac(payload)}`;
  }

  #verifyToken(token: string): Identity {
    const invalid: Identity = { kind: 'invalid', reason: 'the token is invalid or expired: log in again (docker login)', bearer: true };
    const dot = token.indexOf('.');
    if (dot < 0) return invalid;
    const payload = token.slice(0, dot);
    const mac = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.#mac(payload));
    if (mac.byteLength !== expected.byteLength || !timingSafeEqual(mac, expected)) return invalid;
    let claims: { sub?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown; exp?: unknown };
    } catch {
      return invalid;
    }
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number' || claims.exp * 1000 <= this.#now()) return invalid;
    if (claims.sub === '') return { kind: 'anonymous-token' };
    // A user removed from the file loses access at once, not when the token expires.
    return this.#users.has(claims.sub) ? { kind: 'user', name: claims.sub } : invalid;
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#secret).update('token\0').update(payload).digest('base64url');
  }

  #refuse(request: FastifyRequest, reply: FastifyReply, message: string, context: { path: string; write: boolean; local: boolean; invalidToken: boolean }): void {
    if (!this.#anonymousAllowed(context.local)) return void this.#refuseBasic(request, reply, message);
    const params = [`realm="http://${hostOf(request)}${TOKEN_PATH}"`, `service="${REALM}"`];
    const scope = scopeOf(context.path, context.write);
    if (scope !== undefined) params.push(`scope="${scope}"`);
    if (context.invalidToken) params.push('error="invalid_token"');
    sendError(new OciError('UNAUTHORIZED', message, undefined, { headers: { 'www-authenticate': `Bearer ${params.join(',')}` } }), request, reply);
  }

  #refuseBasic(request: FastifyRequest, reply: FastifyReply, message: string): FastifyReply {
    sendError(new OciError('UNAUTHORIZED', message, undefined, { headers: { 'www-authenticate': `Basic realm="${REALM}"` } }), request, reply);
    return reply;
  }
}

/** The host:port the client used, for the token realm; anything odd in the Host header is not echoed. */
function hostOf(request: FastifyRequest): string {
  const host = request.headers.host;
  if (host !== undefined && /^[A-Za-z0-9.\-:[\]]{1,300}$/.test(host)) return host;
  const { localAddress, localPort } = request.socket;
  return formatHostPort(localAddress ?? '127.0.0.1', localPort ?? 5000);
}

/** The token scope a client needs for this endpoint (containerd asks for exactly that). */
function scopeOf(path: string, write: boolean): string | undefined {
  try {
    const endpoint = parseEndpoint(path);
    if (endpoint?.kind === 'catalog') return 'registry:catalog:*';
    if (endpoint && 'name' in endpoint) return `repository:${endpoint.name}:${write ? 'pull,push' : 'pull'}`;
  } catch {
    // an invalid name has no scope
  }
  return undefined;
}
