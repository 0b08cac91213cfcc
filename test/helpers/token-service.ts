// A bearer token server for tests (the registry token spec), on loopback.
//
// distribution 2.8.2 verifies a token's signing key from the JWT header: `x5c` (a certificate
// chain that must verify against auth.token.rootcertbundle; a self-signed cert that is itself in
// the bundle verifies), `jwk`, or `kid` (a libtrust key id of a bundle key). This service signs
// with a fresh key whose self-signed cert (made by the openssl CLI) is the bundle, and sends
// that cert as `x5c`. ES256 signatures are raw r||s (JWS), as libtrust expects. The registry
// allows 60 s of clock leeway on exp/nbf, so a token must be expired by more than that to be refused.
import { execFile } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TokenServiceOptions {
  /** username → password; Basic credentials are checked against these. */
  readonly users?: Readonly<Record<string, string>>;
  /** What a request without credentials gets: pull on any repository, or nothing. Default: 'pull' without users, 'none' with. */
  readonly anonymous?: 'pull' | 'none';
  /** Reported `expires_in`, seconds (also the token's exp). Default 300. */
  readonly expiresIn?: number;
  /** Which field carries the token. Default 'token'. */
  readonly tokenField?: 'token' | 'access_token' | 'both';
  readonly algorithm?: 'ES256' | 'RS256';
  readonly service?: string;
  readonly issuer?: string;
  /** The actions to grant an authenticated account for one requested scope. Default: all it asked for. */
  readonly authorize?: (account: string, requested: Access) => string[];
}

export interface Access {
  readonly type: string;
  readonly name: string;
  readonly actions: string[];
}

export interface TokenRequest {
  readonly account: string | undefined;
  readonly scopes: string[];
  readonly service: string | undefined;
  /** 200 with a token, or 401 for bad credentials */
  readonly status: number;
  readonly granted: Access[];
}

export interface TokenService {
  /** Base URL of the service. */
  readonly url: string;
  /** The token endpoint (the challenge's realm). */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM file of the signing cert: the registry's rootcertbundle. */
  readonly rootCertBundle: string;
  /** Pass as `startSeedRegistry({ auth: { token: svc.registryAuth } })`. */
  readonly registryAuth: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Every request to the token endpoint, in order. */
  readonly requests: readonly TokenRequest[];
  /** Tokens handed out (requests answered 200). */
  tokensIssued(): number;
  setExpiresIn(seconds: number): void;
  /** The next `count` tokens are already expired past the registry's leeway: the registry refuses them. */
  invalidateNext(count: number): void;
  stop(): Promise<void>;
}

export async function startTokenService(options: TokenServiceOptions = {}): Promise<TokenService> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-token-'));
  const algorithm = options.algorithm ?? 'ES256';
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  const newKey = algorithm === 'ES256' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
  await run('openssl', ['req', '-x509', ...newKey, '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '7', '-subj', '/CN=shoal-test-token-issuer']);
  const key: KeyObject = createPrivateKey(await readFile(keyPath));
  const certPem = await readFile(certPath, 'utf8');
  const certDer = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');

  const service = options.service ?? 'shoal-test-registry';
  const issuer = options.issuer ?? 'shoal-test-issuer';
  const users = options.users ?? {};
  const anonymous = options.anonymous ?? (Object.keys(users).length > 0 ? 'none' : 'pull');
  let expiresIn = options.expiresIn ?? 300;
  let invalid = 0;
  const requests: TokenRequest[] = [];

  const issue = (account: string | undefined, access: Access[], expired: boolean): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: algorithm, x5c: [certDer] };
    const exp = expired ? now - 3600 : now + expiresIn;
    const claims = { iss: issuer, sub: account ?? '', aud: service, exp, nbf: now - 5 - (expired ? 7200 : 0), iat: now, jti: randomUUID(), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = algorithm === 'ES256' ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(input), key);
    return `${input}.${b64url(signature)}`;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    let account: string | undefined;
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const [user, pass] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
      if (colon < 0 || users[user] === undefined || users[user] !== pass) {
        requests.push({ account: user, scopes, service: url.searchParams.get('service') ?? undefined, status: 401, granted: [] });
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="shoal-test-token"' });
        res.end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      account = user;
    }
    const granted = scopes.map(parseScope).flatMap((s) => {
      if (!s) return [];
      if (account !== undefined) {
        const actions = options.authorize ? options.authorize(account, s) : s.actions;
        return actions.length > 0 ? [{ ...s, actions }] : [];
      }
      if (anonymous === 'pull' && s.type === 'repository' && s.actions.includes('pull')) return [{ ...s, actions: ['pull'] }];
      return [];
    });
    const expired = invalid > 0;
    if (expired) invalid -= 1;
    const token = issue(account, granted, expired);
    requests.push({ account, scopes, service: url.searchParams.get('service') ?? undefined, status: 200, granted });
    const field = options.tokenField ?? 'token';
    const body = {
      ...(field !== 'access_token' ? { token } : {}),
      ...(field !== 'token' ? { access_token: token } : {}),
      expires_in: expiresIn,
      issued_at: new Date().toISOString(),
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('token service has no address');
  const url = `http://127.0.0.1:${address.port}`;
  const realm = `${url}/token`;
  return {
    url,
    realm,
    service,
    issuer,
    rootCertBundle: certPath,
    registryAuth: { realm, service, issuer, rootCertBundle: certPath },
    requests,
    tokensIssued: () => requests.filter((r) => r.status === 200).length,
    setExpiresIn: (seconds) => {
      expiresIn = seconds;
    },
    invalidateNext: (count) => {
      invalid = count;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `repository:team/app:pull,push` → { type, name, actions }; names may contain ':' (host:port). */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}
