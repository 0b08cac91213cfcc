import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Authenticator, basicAuthorization, parseWwwAuthenticate, type TokenFetcher } from '../../src/upstream/auth.ts';
import { OciError } from '../../src/oci/index.ts';

describe('parseWwwAuthenticate', () => {
  test('a registry bearer challenge', () => {
    const [c, ...rest] = parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"');
    assert.equal(rest.length, 0);
    assert.equal(c!.scheme, 'bearer');
    assert.deepEqual(c!.params, { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' });
  });

  test('commas inside quoted values, error params, spaces around =', () => {
    const [c] = parseWwwAuthenticate('Bearer realm = "http://t/token", scope="repository:a/b:pull,push repository:c:pull", error="insufficient_scope"');
    assert.equal(c!.params.scope, 'repository:a/b:pull,push repository:c:pull');
    assert.equal(c!.params.error, 'insufficient_scope');
    assert.equal(c!.params.realm, 'http://t/token');
  });

  test('several challenges in one value and across values, schemes lowercased', () => {
    const challenges = parseWwwAuthenticate(['Basic realm="reg", Bearer realm="http://x/t",service=svc', 'NEGOTIATE']);
    assert.deepEqual(challenges.map((c) => c.scheme), ['basic', 'bearer', 'negotiate']);
    assert.equal(challenges[0]!.params.realm, 'reg');
    assert.equal(challenges[1]!.params.service, 'svc', 'unquoted token values');
  });

  test('escaped quotes, parameter names lowercased', () => {
    const [c] = parseWwwAuthenticate('Basic Realm="say \\"hi\\""');
    assert.equal(c!.params.realm, 'say "hi"');
  });

  test('nothing to parse', () => {
    assert.deepEqual(parseWwwAuthenticate(undefined), []);
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.deepEqual(parseWwwAuthenticate(' , '), []);
  });
});

const BEARER = 'Bearer realm="http://auth.test/token",service="reg.test"';

function fakeTokenServer(answer: (url: URL, headers: Record<string, string>) => { status: number; body: unknown }) {
  const calls: Array<{ url: URL; headers: Record<string, string> }> = [];
  const fetchToken: TokenFetcher = async (url, headers) => {
    const parsed = new URL(url);
    calls.push({ url: parsed, headers });
    await new Promise((r) => setTimeout(r, 5));
    const { status, body } = answer(parsed, headers);
    return { status, body: typeof body === 'string' ? body : JSON.stringify(body) };
  };
  return { calls, fetchToken };
}

describe('Authenticator', () => {
  test('bearer: one token per scope, reused until expires_in runs out, then fetched again', async () => {
    let now = 1_000_000;
    let n = 0;
    const server = fakeTokenServer(() => ({ status: 200, body: { token: `t${++n}`, expires_in: 30 } }));
    const auth = new Authenticator({ upstream: 'reg.test', fetchToken: server.fetchToken, now: () => now });
    assert.equal(await auth.authorization('repository:a:pull'), undefined, 'scheme unknown before the first challenge');
    assert.equal(await auth.respond('repository:a:pull', BEARER, undefined), 'Bearer t1');
    assert.equal(server.calls[0]!.url.searchParams.get('service'), 'reg.test');
    assert.deepEqual(server.calls[0]!.url.searchParams.getAll('scope'), ['repository:a:pull']);
    assert.equal(server.calls[0]!.headers.authorization, undefined, 'anonymous without credentials');
    for (let i = 0; i < 5; i++) assert.equal(await auth.authorization('repository:a:pull'), 'Bearer t1');
    assert.equal(server.calls.length, 1);
    assert.equal(await auth.authorization('repository:b:pull'), 'Bearer t2', 'another scope, another token, fetched up front');
    now += 26_000;
    assert.equal(await auth.authorization('repository:a:pull'), 'Bearer t1', 'still inside its life');
    now += 2_000; // 28 s: within the 10% margin of a 30 s token
    assert.equal(await auth.authorization('repository:a:pull'), 'Bearer t3');
    assert.equal(auth.tokensFetched, 3);
  });

  test('bearer: concurrent requests for one scope share one token fetch', async () => {
    const server = fakeTokenServer(() => ({ status: 200, body: { access_token: 'only' } }));
    const auth = new Authenticator({ upstream: 'reg.test', fetchToken: server.fetchToken });
    await auth.respond('repository:warm:pull', BEARER, undefined);
    const headers = await Promise.all(Array.from({ length: 10 }, () => auth.authorization('repository:x:pull')));
    assert.deepEqual(new Set(headers), new Set(['Bearer only']));
    assert.equal(server.calls.length, 2);
  });

  test('bearer: no expires_in means 60 s', async () => {
    let now = 0;
    const server = fakeTokenServer(() => ({ status: 200, body: { token: 'x' } }));
    const auth = new Authenticator({ upstream: 'reg.test', fetchToken: server.fetchToken, now: () => now });
    await auth.respond('s', BEARER, undefined);
    now = 50_000;
    await auth.authorization('s');
    assert.equal(server.calls.length, 1);
    now = 55_000;
    await auth.authorization('s');
    assert.equal(server.calls.length, 2);
  });

  test('bearer: a rejected cached token is dropped and fetched again; credentials go to the token server', async () => {
    let n = 0;
    const server = fakeTokenServer(() => ({ status: 200, body: { token: `t${++n}`, expires_in: 300 } }));
    const creds = { username: 'alice', password: 'pw' };
    const auth = new Authenticator({ upstream: 'reg.test', credentials: creds, fetchToken: server.fetchToken });
    const first = await auth.respond('repository:a:pull', `${BEARER},scope="repository:a:pull"`, undefined);
    assert.equal(first, 'Bearer t1');
    assert.equal(server.calls[0]!.headers.authorization, basicAuthorization(creds));
    assert.equal(server.calls[0]!.url.searchParams.get('account'), 'alice');
    const second = await auth.respond('repository:a:pull', `${BEARER},error="invalid_token"`, first);
    assert.equal(second, 'Bearer t2');
    assert.equal(await auth.authorization('repository:a:pull'), 'Bearer t2');
  });

  test('bearer: the token server refusing the credentials is UNAUTHORIZED naming upstream, user and where to fix', async () => {
    const server = fakeTokenServer(() => ({ status: 401, body: { details: 'bad' } }));
    const auth = new Authenticator({
      upstream: 'reg.test',
      credentials: { username: 'alice', password: 'wrong' },
      credentialsSource: '/root/.docker/config.json',
      fetchToken: server.fetchToken,
    });
    await assert.rejects(auth.respond('repository:a:pull', BEARER, undefined), (error: unknown) => {
      assert.ok(error instanceof OciError);
      assert.equal(error.code, 'UNAUTHORIZED');
      assert.match(error.message, /reg\.test/);
      assert.match(error.message, /alice/);
      assert.match(error.message, /\/root\/\.docker\/config\.json/);
      return true;
    });
  });

  test('basic: learned from the challenge, then sent up front; without credentials the error says how to configure them', async () => {
    const server = fakeTokenServer(() => assert.fail('no token server for basic'));
    const creds = { username: 'bob', password: 'pw' };
    const auth = new Authenticator({ upstream: '10.0.0.1:5000', credentials: creds, fetchToken: server.fetchToken });
    const header = await auth.respond('repository:a:pull', 'Basic realm="Registry Realm"', undefined);
    assert.equal(header, `Basic ${Buffer.from('bob:pw').toString('base64')}`);
    assert.equal(await auth.authorization('repository:other:pull'), header);
    await assert.rejects(auth.respond('repository:a:pull', 'Basic realm="x"', header), /rejected the credentials/);

    const anonymous = new Authenticator({ upstream: '10.0.0.1:5000', credentialsSource: '/etc/shoal/docker.json', fetchToken: server.fetchToken });
    await assert.rejects(anonymous.respond('repository:a:pull', 'Basic realm="x"', undefined), (error: unknown) => {
      assert.ok(error instanceof OciError);
      assert.equal(error.code, 'UNAUTHORIZED');
      assert.match(error.message, /10\.0\.0\.1:5000 requires authentication/);
      assert.match(error.message, /docker login 10\.0\.0\.1:5000/);
      assert.match(error.message, /\/etc\/shoal\/docker\.json/);
      return true;
    });
  });

  test('insufficient scope with credentials is DENIED; a challenge nobody can answer is UNAUTHORIZED', async () => {
    const server = fakeTokenServer(() => ({ status: 200, body: { token: 't' } }));
    const auth = new Authenticator({ upstream: 'reg.test', credentials: { username: 'u', password: 'p' }, fetchToken: server.fetchToken });
    const denied = auth.unauthorized('repository:a:pull', 401, `${BEARER},error="insufficient_scope"`);
    assert.equal(denied.code, 'DENIED');
    assert.equal(auth.unauthorized('repository:a:pull', 403).code, 'DENIED');
    await assert.rejects(auth.respond('s', 'Negotiate', undefined), (e: unknown) => e instanceof OciError && e.code === 'UNAUTHORIZED');
  });
});
