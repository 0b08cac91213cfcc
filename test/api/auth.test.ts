import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { renderConfigYaml } from '../../src/config/render.ts';
import { createRegistryServices } from '../../src/daemon/services.ts';
import { buildRegistryApp } from '../../src/http/app.ts';
import { RegistryAuth, TOKEN_PATH, TOKEN_TTL_SECONDS, type AnonymousPull } from '../../src/http/auth.ts';
import { RELOAD_CHECK_MS } from '../../src/http/htpasswd-users.ts';
import { parseHtpasswd } from '../../src/http/htpasswd.ts';
import { Store } from '../../src/store/index.ts';
import { NO_UPSTREAMS } from '../helpers/registry-app.ts';
import { API_VERSION, assertError, imageManifest, makeBlob, pushImage, type Response } from '../helpers/oci-fixtures.ts';

const LAN = '192.168.64.20';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ALICE = basic('alice', 'wonderland');

interface AuthRegistry {
  readonly app: FastifyInstance;
  readonly auth: RegistryAuth;
  readonly htpasswd: string;
  /** Moves the auth's clock forward. */
  advance(ms: number): void;
  close(): Promise<void>;
}

let root: string;
let counter = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'shoal-auth-'));
});
after(() => rm(root, { recursive: true, force: true }));

/** A registry app with an htpasswd file (alice; cost 4 keeps the tests fast) and a fake clock. */
async function authRegistry(anonymousPull: AnonymousPull = 'loopback'): Promise<AuthRegistry> {
  const dir = join(root, `r${++counter}`);
  const htpasswd = join(root, `htpasswd-${counter}`);
  await writeFile(htpasswd, `# users\nalice:${bcrypt.hashSync('wonderland', 4)}\n`);
  const { store } = await Store.open(dir);
  const logger = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });
  let offset = 0;
  const auth = await RegistryAuth.open({ htpasswdPath: htpasswd, anonymousPull, logger, now: () => Date.now() + offset });
  const services = createRegistryServices({ store, router: NO_UPSTREAMS, logger, tagTimeoutMs: 1000, maxUploadBytes: 0 });
  const app = buildRegistryApp({ ...services, status: async () => ({ ok: true }) }, { auth });
  await app.ready();
  return { app, auth, htpasswd, advance: (ms) => void (offset += ms), close: () => app.close() };
}

function assertChallenge(res: Response, scheme: 'Basic' | 'Bearer', context = ''): string {
  assertError(res, 401, 'UNAUTHORIZED', context);
  const header = String(res.headers['www-authenticate']);
  if (scheme === 'Basic') assert.equal(header, 'Basic realm="shoal"', context);
  else assert.match(header, new RegExp(`^Bearer realm="http://[^"]+${TOKEN_PATH}",service="shoal"`), context);
  return header;
}

async function token(app: FastifyInstance, options: { authorization?: string; remoteAddress?: string } = {}): Promise<Response> {
  return app.inject({ method: 'GET', url: `${TOKEN_PATH}?service=shoal&scope=repository:team/app:pull`, headers: options.authorization ? { authorization: options.authorization } : {}, ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}) });
}

/** Pushes an image as alice (blobs, then the manifest with a tag). */
async function pushAsAlice(app: FastifyInstance, name: string, tag: string): Promise<{ manifestDigest: string; layer: string }> {
  const config = makeBlob('{"architecture":"amd64","os":"linux"}');
  const layer = makeBlob();
  for (const blob of [config, layer]) {
    const res = await app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/?digest=${blob.digest}`, headers: { authorization: ALICE, 'content-type': 'application/octet-stream' }, payload: blob.content });
    assert.equal(res.statusCode, 201, res.body);
  }
  const manifest = imageManifest({ config, layers: [layer] });
  const res = await app.inject({ method: 'PUT', url: `/v2/${name}/manifests/${tag}`, headers: { authorization: ALICE, 'content-type': manifest.mediaType }, payload: manifest.body });
  assert.equal(res.statusCode, 201, res.body);
  return { manifestDigest: manifest.digest, layer: layer.digest };
}

describe('registry API with an htpasswd file (anonymous-pull loopback)', () => {
  let r: AuthRegistry;
  let pushed: { manifestDigest: string; layer: string };
  before(async () => {
    r = await authRegistry();
    pushed = await pushAsAlice(r.app, 'team/app', '1');
  });
  after(() => r.close());

  test('GET /v2/ without credentials is 401 even on loopback (docker login needs the challenge), with a token realm', async () => {
    const res = await r.app.inject({ method: 'GET', url: '/v2/', headers: { host: 'localhost:5000' } });
    const header = assertChallenge(res, 'Bearer');
    assert.equal(header, `Bearer realm="http://localhost:5000${TOKEN_PATH}",service="shoal"`);
    assert.equal(res.headers['docker-distribution-api-version'], API_VERSION);
    const head = await r.app.inject({ method: 'HEAD', url: '/v2/' });
    assert.equal(head.statusCode, 401);
    assert.equal(head.body, '');
  });

  test('GET /v2/ with the right password is 200, with a wrong one or an unknown user 401', async () => {
    const ok = await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: ALICE } });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), {});
    assertChallenge(await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('alice', 'nope') } }), 'Bearer', 'wrong password');
    assertChallenge(await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: basic('mallory', 'wonderland') } }), 'Bearer', 'unknown user');
    assertChallenge(await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: 'Digest abc' } }), 'Bearer', 'other scheme');
  });

  test('anonymous pulls work on loopback: manifest, blob, tags, catalog, status', async () => {
    const manifest = await r.app.inject({ method: 'GET', url: '/v2/team/app/manifests/1', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(manifest.statusCode, 200, manifest.body);
    assert.equal(manifest.headers['docker-content-digest'], pushed.manifestDigest);
    assert.equal((await r.app.inject({ method: 'HEAD', url: `/v2/team/app/blobs/${pushed.layer}` })).statusCode, 200);
    assert.equal((await r.app.inject({ method: 'GET', url: `/v2/team/app/blobs/${pushed.layer}` })).statusCode, 200);
    assert.deepEqual((await r.app.inject({ method: 'GET', url: '/v2/team/app/tags/list' })).json(), { name: 'team/app', tags: ['1'] });
    assert.equal((await r.app.inject({ method: 'GET', url: '/v2/_catalog' })).statusCode, 200);
    assert.equal((await r.app.inject({ method: 'GET', url: '/_shoal/status' })).statusCode, 200);
    assert.equal((await r.app.inject({ method: 'GET', url: '/v2/team/app/manifests/1', remoteAddress: '::ffff:127.0.0.1' })).statusCode, 200);
    assert.equal((await r.app.inject({ method: 'GET', url: '/v2/team/app/manifests/1', remoteAddress: '::1' })).statusCode, 200);
  });

  test('anonymous pushes and deletes are 401 on loopback, with a push scope in the challenge', async () => {
    const blob = makeBlob();
    const cases: Array<[string, string]> = [
      ['POST', `/v2/team/app/blobs/uploads/?digest=${blob.digest}`],
      ['POST', '/v2/team/app/blobs/uploads/'],
      ['PATCH', '/v2/team/app/blobs/uploads/0b0e7a3c-8b4e-4c5e-9d7e-3e7a1c1f2b3a'],
      ['PUT', '/v2/team/app/manifests/2'],
      ['DELETE', '/v2/team/app/manifests/1'],
      ['DELETE', `/v2/team/app/blobs/${pushed.layer}`],
    ];
    for (const [method, url] of cases) {
      const res = await r.app.inject({ method: method as 'POST', url, headers: { 'content-type': 'application/octet-stream' }, payload: blob.content });
      const header = assertChallenge(res, 'Bearer', `${method} ${url}`);
      assert.match(header, /scope="repository:team\/app:pull,push"/, `${method} ${url}`);
      assert.match(res.json().errors[0].message, /needs a login/);
    }
    // Nothing was changed.
    assert.equal((await r.app.inject({ method: 'GET', url: '/v2/team/app/manifests/1', headers: { accept: '*/*' } })).statusCode, 200);
    assert.equal((await r.app.inject({ method: 'HEAD', url: `/v2/team/app/blobs/${blob.digest}` })).statusCode, 404);
  });

  test('a preheat is a pull: allowed to whoever may pull here (loopback anonymous), refused where pulls need a login', async () => {
    assert.deepEqual(await r.auth.decide('POST', '/_shoal/preheat', undefined, true), { allow: true });
    const lan = await r.auth.decide('POST', '/_shoal/preheat', undefined, false);
    assert.ok(!lan.allow && /docker login/.test(lan.message), JSON.stringify(lan));
    // Other POSTs stay writes.
    assert.equal((await r.auth.decide('POST', '/_shoal/preheat/x', undefined, true)).allow, false);
    assert.equal((await r.auth.decide('POST', '/v2/team/app/blobs/uploads/', undefined, true)).allow, false);
  });

  test('wrong credentials are refused even where anonymous access would be allowed', async () => {
    const res = await r.app.inject({ method: 'GET', url: '/v2/team/app/tags/list', headers: { authorization: basic('alice', 'wrong') } });
    assertChallenge(res, 'Bearer');
    assert.match(res.json().errors[0].message, /wrong user name or password/);
  });

  test('item 16: the 401 on /v2/ says what this client may do: a LAN client is not offered anonymous pulls', async () => {
    const lan = await r.app.inject({ method: 'GET', url: '/v2/', remoteAddress: LAN });
    assertChallenge(lan, 'Basic', 'LAN');
    const lanMessage = lan.json().errors[0].message as string;
    assert.doesNotMatch(lanMessage, /pull anonymously|without a login/i, lanMessage);
    assert.match(lanMessage, /docker login/);
    assert.match(lanMessage, /anonymous-pull/, 'names the setting that decides it');
    const local = await r.app.inject({ method: 'GET', url: '/v2/' });
    assert.match(local.json().errors[0].message as string, /docker login/);
    assert.match(local.json().errors[0].message as string, /without a login/, 'on loopback anonymous pulls are allowed, and it says so');
  });

  test('item 12: auth schemes are case-insensitive (bearer, BEARER, basic, BaSiC)', async () => {
    const aliceToken = ((await token(r.app, { authorization: ALICE })).json() as { token: string }).token;
    const credentials = ALICE.slice('Basic '.length);
    for (const authorization of [`bearer ${aliceToken}`, `BEARER ${aliceToken}`, `Bearer  ${aliceToken}`, `basic ${credentials}`, `BaSiC ${credentials}`, `BASIC ${credentials}`]) {
      const res = await r.app.inject({ method: 'GET', url: '/v2/', remoteAddress: LAN, headers: { authorization } });
      assert.equal(res.statusCode, 200, `${authorization.slice(0, 12)}: ${res.body}`);
    }
  });

  test('from another host: anonymous pulls are 401 with a Basic challenge; with credentials everything works', async () => {
    for (const url of ['/v2/', '/v2/team/app/manifests/1', `/v2/team/app/blobs/${pushed.layer}`, '/v2/_catalog']) {
      const res = await r.app.inject({ method: 'GET', url, remoteAddress: LAN });
      assertChallenge(res, 'Basic', url);
    }
    // The node's status is for the node itself, logged in or not (browser-guard.ts).
    for (const headers of [{}, { authorization: ALICE }]) assertError(await r.app.inject({ method: 'GET', url: '/_shoal/status', remoteAddress: LAN, headers }), 403, 'DENIED');
    const refused = await r.app.inject({ method: 'GET', url: '/v2/team/app/tags/list', remoteAddress: LAN });
    assert.match(refused.json().errors[0].message, /anonymous-pull loopback/);
    assert.equal((await r.app.inject({ method: 'GET', url: '/v2/', remoteAddress: LAN, headers: { authorization: ALICE } })).statusCode, 200);
    assert.equal((await r.app.inject({ method: 'GET', url: '/v2/team/app/manifests/1', remoteAddress: LAN, headers: { authorization: ALICE, accept: '*/*' } })).statusCode, 200);
    const lanPush = await pushAsAliceFrom(r.app, LAN);
    assert.equal(lanPush, 201);
  });

  test('token endpoint: anonymous token on loopback pulls but cannot push; alice\'s token pushes', async () => {
    const anonymous = await token(r.app);
    assert.equal(anonymous.statusCode, 200, anonymous.body);
    const body = anonymous.json() as { token: string; access_token: string; expires_in: number; issued_at: string };
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, TOKEN_TTL_SECONDS);
    assert.ok(Date.parse(body.issued_at) > 0);
    assert.equal(anonymous.headers['cache-control'], 'no-store');
    const bearer = `Bearer ${body.token}`;
    assert.equal((await r.app.inject({ method: 'GET', url: '/v2/team/app/manifests/1', headers: { authorization: bearer, accept: '*/*' } })).statusCode, 200);
    assert.equal((await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: bearer } })).statusCode, 200, 'a valid token passes the ping');
    assertChallenge(await r.app.inject({ method: 'POST', url: '/v2/team/app/blobs/uploads/', headers: { authorization: bearer } }), 'Bearer', 'anonymous token push');

    const user = await token(r.app, { authorization: ALICE });
    assert.equal(user.statusCode, 200);
    const start = await r.app.inject({ method: 'POST', url: '/v2/team/app/blobs/uploads/', headers: { authorization: `Bearer ${(user.json() as { token: string }).token}` } });
    assert.equal(start.statusCode, 202, start.body);
  });

  test('token endpoint: wrong password, or anonymous from another host, is 401 with a Basic challenge', async () => {
    assertChallenge(await token(r.app, { authorization: basic('alice', 'bad') }), 'Basic', 'wrong password');
    assertChallenge(await token(r.app, { remoteAddress: LAN }), 'Basic', 'anonymous from the LAN');
    assert.equal((await token(r.app, { remoteAddress: LAN, authorization: ALICE })).statusCode, 200);
  });

  test('a tampered, foreign or expired token is 401 with error="invalid_token"', async () => {
    const good = (await token(r.app, { authorization: ALICE })).json() as { token: string };
    const [payload, mac] = good.token.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 99999 })).toString('base64url');
    for (const bad of [`${forged}.${mac}`, `${payload}.${mac.slice(0, -2)}xx`, 'garbage', `${payload}`]) {
      const res = await r.app.inject({ method: 'GET', url: '/v2/team/app/tags/list', headers: { authorization: `Bearer ${bad}` } });
      assert.match(assertChallenge(res, 'Bearer', bad), /error="invalid_token"/);
    }
    r.advance((TOKEN_TTL_SECONDS + 1) * 1000);
    try {
      const expired = await r.app.inject({ method: 'GET', url: '/v2/team/app/tags/list', headers: { authorization: `Bearer ${good.token}` } });
      assert.match(assertChallenge(expired, 'Bearer'), /error="invalid_token"/);
    } finally {
      r.advance(-(TOKEN_TTL_SECONDS + 1) * 1000);
    }
  });

  test('bcrypt runs once per credentials: docker sends them with every request', async () => {
    const credentials = basic('alice', 'wonderland');
    const before = r.auth.bcryptChecks;
    await Promise.all(Array.from({ length: 10 }, () => r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: credentials } })));
    for (let i = 0; i < 10; i++) assert.equal((await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: credentials } })).statusCode, 200);
    assert.ok(r.auth.bcryptChecks - before <= 1, `${r.auth.bcryptChecks - before} bcrypt checks`);
    const wrong = basic('alice', 'guess');
    const beforeWrong = r.auth.bcryptChecks;
    for (let i = 0; i < 5; i++) assert.equal((await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: wrong } })).statusCode, 401);
    assert.equal(r.auth.bcryptChecks - beforeWrong, 1, 'a repeated wrong password is answered from the cache');
  });
});

describe('htpasswd changes are picked up without a restart', () => {
  test('a user added to the file can log in; a removed user loses access, tokens included', async () => {
    const r = await authRegistry();
    try {
      const bob = basic('bob', 'builder');
      assertChallenge(await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: bob } }), 'Bearer');
      const aliceToken = (await token(r.app, { authorization: ALICE })).json() as { token: string };
      await writeFile(r.htpasswd, `bob:${bcrypt.hashSync('builder', 4)}\n`);
      r.advance(RELOAD_CHECK_MS + 1);
      assert.equal((await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: bob } })).statusCode, 200);
      assertChallenge(await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: ALICE } }), 'Bearer', 'alice removed');
      assertChallenge(await r.app.inject({ method: 'POST', url: '/v2/x/blobs/uploads/', headers: { authorization: `Bearer ${aliceToken.token}` } }), 'Bearer', 'alice\'s token');
      // A broken edit keeps the users read before.
      await appendFile(r.htpasswd, 'carol:{SHA}abc\n');
      r.advance(RELOAD_CHECK_MS + 1);
      assert.equal((await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: bob } })).statusCode, 200);
    } finally {
      await r.close();
    }
  });
});

describe('item 8: an emptied or deleted htpasswd file means no users', () => {
  for (const [how, change] of [
    ['emptied (htpasswd -D of the last user)', (path: string) => writeFile(path, '# users\n')],
    ['deleted', (path: string) => rm(path)],
  ] as const) {
    test(`item 8: htpasswd file ${how}: the users read before lose access at once, tokens included`, async () => {
      const r = await authRegistry();
      try {
        const aliceToken = (await token(r.app, { authorization: ALICE })).json() as { token: string };
        assert.equal((await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: ALICE } })).statusCode, 200);
        await change(r.htpasswd);
        r.advance(RELOAD_CHECK_MS + 1);
        assertChallenge(await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: ALICE } }), 'Bearer', 'alice after the change');
        assertChallenge(await r.app.inject({ method: 'POST', url: '/v2/x/blobs/uploads/', headers: { authorization: ALICE } }), 'Bearer', 'push as alice');
        assertChallenge(await r.app.inject({ method: 'POST', url: '/v2/x/blobs/uploads/', headers: { authorization: `Bearer ${aliceToken.token}` } }), 'Bearer', 'alice\'s token');
        assert.equal(r.auth.users, 0);
        // Anonymous pulls on loopback are still what anonymous-pull allows.
        assert.equal((await r.app.inject({ method: 'GET', url: '/v2/_catalog' })).statusCode, 200);
        // Back with a user: that user can log in again.
        await writeFile(r.htpasswd, `alice:${bcrypt.hashSync('wonderland', 4)}\n`);
        r.advance(RELOAD_CHECK_MS + 1);
        assert.equal((await r.app.inject({ method: 'GET', url: '/v2/', headers: { authorization: ALICE } })).statusCode, 200);
      } finally {
        await r.close();
      }
    });
  }
});

describe('anonymous-pull all and none', () => {
  test('all: anyone may pull, from any host; pushes still need a login; /v2/ still challenges (Bearer)', async () => {
    const r = await authRegistry('all');
    try {
      await pushAsAlice(r.app, 'open/app', 'v1');
      assert.equal((await r.app.inject({ method: 'GET', url: '/v2/open/app/manifests/v1', remoteAddress: LAN, headers: { accept: '*/*' } })).statusCode, 200);
      assertChallenge(await r.app.inject({ method: 'GET', url: '/v2/', remoteAddress: LAN }), 'Bearer');
      assertChallenge(await r.app.inject({ method: 'POST', url: '/v2/open/app/blobs/uploads/', remoteAddress: LAN }), 'Bearer');
      assert.equal((await token(r.app, { remoteAddress: LAN })).statusCode, 200);
    } finally {
      await r.close();
    }
  });

  test('none: even loopback pulls need a login, challenged with Basic realm="shoal" as registry:2 does', async () => {
    const r = await authRegistry('none');
    try {
      await pushAsAlice(r.app, 'closed/app', 'v1');
      const res = await r.app.inject({ method: 'GET', url: '/v2/closed/app/manifests/v1' });
      assertChallenge(res, 'Basic');
      assert.match(res.json().errors[0].message, /anonymous-pull none/);
      assertChallenge(await r.app.inject({ method: 'GET', url: '/v2/' }), 'Basic');
      assertChallenge(await token(r.app), 'Basic', 'no anonymous tokens');
      assert.equal((await r.app.inject({ method: 'GET', url: '/v2/closed/app/manifests/v1', headers: { authorization: ALICE, accept: '*/*' } })).statusCode, 200);
    } finally {
      await r.close();
    }
  });
});

describe('without an htpasswd file nothing changes', () => {
  test('pushes and pulls are open; /v2/ answers 200', async () => {
    const dir = join(root, 'open');
    const { store } = await Store.open(dir);
    const logger = pino({ level: 'silent' });
    const app = buildRegistryApp(createRegistryServices({ store, router: NO_UPSTREAMS, logger, tagTimeoutMs: 1000, maxUploadBytes: 0 }));
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/v2/' })).statusCode, 200);
      await pushImage(app, 'free/app', 'v1');
      assert.equal((await app.inject({ method: 'GET', url: TOKEN_PATH })).statusCode, 404);
    } finally {
      await app.close();
    }
  });
});

describe('auth helpers', () => {
  test('htpasswd: bcrypt only, comments and blank lines skipped, mistakes named by line', () => {
    const hash = bcrypt.hashSync('x', 4);
    const users = parseHtpasswd(`# comment\n\nalice:${hash}\nbob:${hash.replace('$2b$', '$2y$')}\n`, 'f');
    assert.deepEqual([...users.keys()], ['alice', 'bob']);
    assert.throws(() => parseHtpasswd('carol:$apr1$abc$def\n', 'f'), /^Error: f:1: the hash of "carol" is not bcrypt; write it with htpasswd -B/);
    assert.throws(() => parseHtpasswd(`alice:${hash}\nnocolon\n`, 'f'), /f:2: expected user:hash/);
    assert.throws(() => parseHtpasswd(`a:${hash}\na:${hash}\n`, 'f'), /f:2: user "a" appears twice/);
    assert.throws(() => parseHtpasswd('# nobody\n', 'f'), /has no users/);
  });
});

describe('auth settings', () => {
  const load = (argvOptions: Record<string, unknown>, env: Record<string, string> = {}) => loadConfig({ argvOptions, env, cwd: root, homedir: root });
  const configError = async (promise: Promise<unknown>, message: RegExp): Promise<void> => {
    await assert.rejects(promise, (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, message);
      assert.ok(!error.message.includes('\n'));
      return true;
    });
  };

  test('a listen address other hosts reach needs an htpasswd file or --allow-insecure-listen', async () => {
    await configError(load({ listen: '0.0.0.0:5000', swarm: false }),
      /^listen 0\.0\.0\.0:5000 \(--listen\) is reachable from other hosts, and without an htpasswd file anyone there could push and delete images: give --htpasswd FILE, or pass --allow-insecure-listen to accept that$/);
    await configError(load({ swarm: false }, { SHOAL_LISTEN: '192.168.64.20:5000' }), /^listen 192\.168\.64\.20:5000 \(SHOAL_LISTEN\) is reachable from other hosts/);
    await configError(load({ listen: 'registry.lan:5000', swarm: false }), /^listen registry\.lan:5000/);
    const htpasswd = join(root, 'settings-htpasswd');
    await writeFile(htpasswd, `alice:${bcrypt.hashSync('x', 4)}\n`);
    const withUsers = await load({ listen: '0.0.0.0:5000', swarm: false, htpasswd });
    assert.deepEqual(withUsers.auth, { htpasswdPath: htpasswd, anonymousPull: 'loopback', allowInsecureListen: false });
    assert.equal((await load({ listen: '0.0.0.0:5000', swarm: false, allowInsecureListen: true })).auth.allowInsecureListen, true);
    assert.equal((await load({ swarm: false }, { SHOAL_LISTEN: '10.1.1.1:5000', SHOAL_ALLOW_INSECURE_LISTEN: 'true' })).auth.allowInsecureListen, true);
    for (const listen of ['127.0.0.1:5000', 'localhost:5000', '[::1]:5000', '127.0.0.2:5000']) assert.equal((await load({ listen, swarm: false })).auth.htpasswdPath, undefined, listen);
  });

  test('anonymous-pull only with an htpasswd file; values checked; bad htpasswd files refused at load', async () => {
    await configError(load({ anonymousPull: 'all' }), /^anonymous-pull \(--anonymous-pull\) applies only with an htpasswd file/);
    await configError(load({ anonymousPull: 'some' }), /^invalid --anonymous-pull "some": expected one of loopback, all, none$/);
    const md5 = join(root, 'md5-htpasswd');
    await writeFile(md5, 'alice:$apr1$x$y\n');
    await configError(load({ htpasswd: md5 }), new RegExp(`^invalid --htpasswd "${md5}": expected an htpasswd file with bcrypt hashes \\(htpasswd -B\\); ${md5}:1: the hash of "alice" is not bcrypt`));
    await configError(load({ htpasswd: join(root, 'missing') }), /^invalid --htpasswd ".*missing": expected an htpasswd file with bcrypt hashes \(htpasswd -B\); cannot read .*missing \(ENOENT\)$/);
    const good = join(root, 'yaml-htpasswd');
    await writeFile(good, `alice:${bcrypt.hashSync('x', 4)}\n`);
    const yaml = join(root, 'auth.yml');
    await writeFile(yaml, 'http: {addr: "0.0.0.0:5000"}\nauth:\n  htpasswd: {path: yaml-htpasswd}\n  anonymouspull: none\nswarm: {enabled: false}\n');
    assert.deepEqual((await load({ config: yaml })).auth, { htpasswdPath: good, anonymousPull: 'none', allowInsecureListen: false });
  });

  test('shoal config prints the auth and disk settings in YAML that loads back to the same configuration', async () => {
    const htpasswd = join(root, 'render-htpasswd');
    await writeFile(htpasswd, `alice:${bcrypt.hashSync('x', 4)}\n`);
    const config = await load({ listen: '0.0.0.0:5000', swarm: false, htpasswd, anonymousPull: 'all', allowInsecureListen: true, maxDiskUsage: '10GiB', diskHighWatermark: '95%', diskLowWatermark: '57%' });
    const yaml = renderConfigYaml(config);
    assert.match(yaml, /\nauth:\n {2}htpasswd:\n {4}path: .*render-htpasswd\n {2}anonymouspull: all\n {2}allowinsecurelisten: true\n/);
    assert.match(yaml, /maxdiskusage: 10GiB/);
    const path = join(root, 'rendered.yml');
    await writeFile(path, yaml);
    assert.deepEqual(await load({ config: path }), config);
    const plain = renderConfigYaml(await load({}));
    assert.ok(!plain.includes('auth:') && !plain.includes('maxdiskusage'), 'settings left off are not printed');
  });
});

async function pushAsAliceFrom(app: FastifyInstance, remoteAddress: string): Promise<number> {
  const blob = makeBlob();
  const res = await app.inject({ method: 'POST', url: `/v2/lan/app/blobs/uploads/?digest=${blob.digest}`, remoteAddress, headers: { authorization: ALICE, 'content-type': 'application/octet-stream' }, payload: blob.content });
  return res.statusCode;
}
