// The upstream client against a real docker-registry (distribution 2.8.2): anonymous, htpasswd,
// bearer tokens from the test token service; plus a small quirky server for what registry 2.8.2
// never does (tags pagination, lying digests, redirects to storage, 5xx/429).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { RegistryClient } from '../../src/upstream/registry-client.ts';
import { UpstreamError, UpstreamUnavailableError } from '../../src/upstream/errors.ts';
import { OciError, parseDigest, MEDIA_TYPES } from '../../src/oci/index.ts';
import { freePort, startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startTokenService, type TokenService } from '../helpers/token-service.ts';
import { blobBytes, makeImage, pushImage, sha256, type TestImage } from '../helpers/images.ts';

const DOCKER_ACCEPT = [MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex];
const ALICE = { username: 'alice', password: 'wonderland' };

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function isOci(code: string) {
  return (error: unknown) => error instanceof OciError && error.code === code;
}

describe('upstream client against docker-registry 2.8.2, anonymous', () => {
  let seed: SeedRegistry;
  let client: RegistryClient;
  let image: TestImage;
  let ociImage: TestImage;
  let big: TestImage;

  before(async () => {
    seed = await startSeedRegistry({ catalogMaxEntries: 2 });
    image = await makeImage({ layers: [1000, 300_000], seed: 'anon' });
    ociImage = await makeImage({ layers: [5000], seed: 'anon-oci', format: 'oci' });
    big = await makeImage({ layers: [64 * 1024 * 1024], seed: 'big' });
    await pushImage(seed.url, 'team/app', 'v1', image);
    await pushImage(seed.url, 'team/app', 'v2', image);
    await pushImage(seed.url, 'team/app', 'oci', ociImage);
    await pushImage(seed.url, 'library/nginx', 'latest', image);
    await pushImage(seed.url, 'big', 'latest', big);
    await pushImage(seed.url, 'zeta', 'latest', ociImage);
    client = new RegistryClient({ url: seed.url, timeoutMs: 3000 });
  });

  after(async () => {
    await client?.close();
    await seed?.stop();
    await big?.cleanup();
  });

  test('HEAD manifest by tag and by digest', async () => {
    const byTag = await client.headManifest('team/app', 'v1', DOCKER_ACCEPT);
    assert.deepEqual(byTag, { digest: parseDigest(image.digest), mediaType: MEDIA_TYPES.dockerManifest, size: image.manifest.byteLength });
    const byDigest = await client.headManifest('team/app', ociImage.digest, [MEDIA_TYPES.ociManifest]);
    assert.equal(byDigest?.digest.value, ociImage.digest);
    assert.equal(byDigest?.mediaType, MEDIA_TYPES.ociManifest);
    const heads = (await seed.requests()).filter((r) => r.method === 'HEAD' && r.path.includes('/manifests/'));
    assert.equal(heads.length, 2, 'HEAD stays HEAD (no fallback GET)');
  });

  test('GET manifest by tag and by digest: body, digest, media type', async () => {
    const manifest = await client.getManifest('team/app', 'v2', DOCKER_ACCEPT);
    assert.ok(manifest);
    assert.ok(manifest.body.equals(image.manifest));
    assert.equal(manifest.digest.value, image.digest);
    assert.equal(manifest.size, image.manifest.byteLength);
    assert.equal(manifest.mediaType, MEDIA_TYPES.dockerManifest);
    const oci = await client.getManifest('team/app', ociImage.digest, DOCKER_ACCEPT);
    assert.equal(oci?.mediaType, MEDIA_TYPES.ociManifest);
    assert.ok(oci?.body.equals(ociImage.manifest));
  });

  test('unknown manifests, repositories and blobs are undefined', async () => {
    assert.equal(await client.headManifest('team/app', 'nope', DOCKER_ACCEPT), undefined);
    assert.equal(await client.getManifest('team/app', 'nope', DOCKER_ACCEPT), undefined);
    assert.equal(await client.getManifest('no/such', 'v1', DOCKER_ACCEPT), undefined);
    assert.equal(await client.getManifest('team/app', sha256('nothing'), DOCKER_ACCEPT), undefined);
    assert.equal(await client.getBlob('team/app', parseDigest(sha256('nothing'))), undefined);
    assert.equal(await client.listTags('no/such'), undefined);
  });

  test('GET blob whole', async () => {
    const layer = image.layers[1]!;
    const blob = await client.getBlob('team/app', parseDigest(layer.digest));
    assert.ok(blob);
    assert.equal(blob.size, layer.size);
    assert.equal(blob.range, undefined);
    assert.ok((await readAll(blob.stream)).equals(await blobBytes(layer)));
  });

  test('GET blob with a Range: 206, the slice, the whole size', async () => {
    const layer = image.layers[1]!;
    const data = await blobBytes(layer);
    const blob = await client.getBlob('team/app', parseDigest(layer.digest), { start: 1000, end: 204_999 });
    assert.ok(blob);
    assert.deepEqual(blob.range, { start: 1000, end: 204_999 });
    assert.equal(blob.size, layer.size);
    assert.ok((await readAll(blob.stream)).equals(data.subarray(1000, 205_000)));
    const tail = await client.getBlob('team/app', parseDigest(layer.digest), { start: layer.size - 10, end: layer.size + 1000 });
    assert.deepEqual(tail?.range, { start: layer.size - 10, end: layer.size - 1 }, 'an end past the blob is clamped by the registry');
    assert.ok((await readAll(tail!.stream)).equals(data.subarray(layer.size - 10)));
    const log = await seed.requests();
    assert.ok(log.some((r) => r.status === 206 && r.bytes === 204_000), 'the registry sent only the range');
  });

  test('GET blob streams: a reader that stops early leaves most of a 64 MiB blob unsent', async () => {
    const layer = big.layers[0]!;
    seed.clearLog();
    const blob = await client.getBlob('big', parseDigest(layer.digest));
    assert.equal(blob?.size, layer.size);
    const first = await new Promise<Buffer>((resolve) => blob!.stream.once('data', resolve));
    assert.ok(first.byteLength > 0);
    blob!.stream.destroy();
    await waitFor(async () => (await seed.requests()).some((r) => r.path.endsWith(layer.digest)), 'the registry to log the blob GET');
    const served = await seed.blobBytesServed(layer.digest);
    assert.ok(served < layer.size / 2, `served ${served} of ${layer.size} bytes`);
  });

  test('tags list (registry 2.8.2 answers in one page)', async () => {
    assert.deepEqual((await client.listTags('team/app'))?.sort(), ['oci', 'v1', 'v2']);
  });

  test('catalog follows Link pagination (catalog.maxentries 2)', async () => {
    seed.clearLog();
    assert.deepEqual(await client.catalog(), ['big', 'library/nginx', 'team/app', 'zeta']);
    const pages = (await seed.requests()).filter((r) => r.path.startsWith('/v2/_catalog'));
    assert.equal(pages.length, 2, "two pages of two");
  });

  test('a restarted registry (same port and data) is served again on new connections', async () => {
    await client.headManifest('team/app', 'v1', DOCKER_ACCEPT);
    await seed.restart();
    const info = await client.headManifest('team/app', 'v1', DOCKER_ACCEPT);
    assert.equal(info?.digest.value, image.digest);
  });

  test('a hung upstream (SIGSTOP) fails with UpstreamUnavailableError when the timeout runs out', async () => {
    const quick = new RegistryClient({ url: seed.url, timeoutMs: 400 });
    try {
      await quick.headManifest('team/app', 'v1', DOCKER_ACCEPT); // a kept-alive connection, too
      seed.pause();
      let started = Date.now();
      await assert.rejects(quick.headManifest('team/app', 'v1', DOCKER_ACCEPT), (error: unknown) => {
        assert.ok(error instanceof UpstreamUnavailableError, String(error));
        assert.match(error.message, /did not answer .* within 400 ms/);
        return true;
      });
      let elapsed = Date.now() - started;
      assert.ok(elapsed >= 350 && elapsed < 2000, `took ${elapsed} ms`);
      started = Date.now();
      await assert.rejects(client.listTags('team/app', { timeoutMs: 250 }), UpstreamUnavailableError);
      elapsed = Date.now() - started;
      assert.ok(elapsed >= 200 && elapsed < 2000, `per-request timeout: took ${elapsed} ms`);
    } finally {
      seed.resume();
      await quick.close();
    }
    assert.deepEqual((await client.listTags('team/app'))?.sort(), ['oci', 'v1', 'v2'], 'works again once resumed');
  });

  test('nothing listening: UpstreamUnavailableError at once', async () => {
    const port = await freePort();
    const nobody = new RegistryClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 5000 });
    const started = Date.now();
    await assert.rejects(nobody.getManifest('x', 'latest', DOCKER_ACCEPT), (error: unknown) => {
      assert.ok(error instanceof UpstreamUnavailableError);
      assert.match(error.message, /ECONNREFUSED/);
      assert.equal(error.upstream, `127.0.0.1:${port}`);
      return true;
    });
    assert.ok(Date.now() - started < 1000);
    await nobody.close();
  });
});

describe('upstream client against docker-registry 2.8.2 with htpasswd', () => {
  const BOB = { username: 'bob', password: 'builder' };
  let seed: SeedRegistry;
  let image: TestImage;

  before(async () => {
    seed = await startSeedRegistry({ auth: { htpasswd: BOB } });
    image = await makeImage({ layers: [2048], seed: 'basic' });
    await pushImage(seed.url, 'private/app', 'v1', image, { auth: BOB });
  });
  after(async () => {
    await seed?.stop();
  });

  test('basic credentials: challenge once, then sent up front', async () => {
    const client = new RegistryClient({ url: seed.url, credentials: BOB });
    seed.clearLog();
    for (let i = 0; i < 3; i++) assert.equal((await client.getManifest('private/app', 'v1', DOCKER_ACCEPT))?.digest.value, image.digest);
    const blob = await client.getBlob('private/app', parseDigest(image.layers[0]!.digest));
    assert.equal((await readAll(blob!.stream)).byteLength, 2048);
    const log = await seed.requests();
    assert.equal(log.filter((r) => r.status === 401).length, 1);
    assert.equal(client.tokensFetched, 0);
    await client.close();
  });

  test('no credentials: UNAUTHORIZED that says what to configure', async () => {
    const client = new RegistryClient({ url: seed.url, credentialsSource: '/root/.docker/config.json' });
    await assert.rejects(client.getManifest('private/app', 'v1', DOCKER_ACCEPT), (error: unknown) => {
      assert.ok(isOci('UNAUTHORIZED')(error));
      assert.match((error as Error).message, new RegExp(`upstream ${seed.host.replace(/\./g, '\\.')} requires authentication`));
      assert.match((error as Error).message, /docker login/);
      return true;
    });
    await client.close();
  });

  test('wrong password: UNAUTHORIZED naming the user', async () => {
    const client = new RegistryClient({ url: seed.url, credentials: { username: 'bob', password: 'nope' } });
    await assert.rejects(client.headManifest('private/app', 'v1', DOCKER_ACCEPT), (error: unknown) => {
      assert.ok(isOci('UNAUTHORIZED')(error));
      assert.match((error as Error).message, /rejected the credentials of user "bob"/);
      return true;
    });
    await client.close();
  });
});

describe('upstream client against docker-registry 2.8.2 with bearer tokens', () => {
  let tokens: TokenService;
  let seed: SeedRegistry;
  let image: TestImage;

  before(async () => {
    tokens = await startTokenService({
      users: { [ALICE.username]: ALICE.password, carol: 'c' },
      authorize: (account, requested) => (account === 'carol' ? [] : requested.actions),
    });
    seed = await startSeedRegistry({ auth: { token: tokens.registryAuth } });
    image = await makeImage({ layers: [4096, 10_000], seed: 'bearer' });
    await pushImage(seed.url, 'team/app', 'v1', image, { auth: ALICE });
    await pushImage(seed.url, 'team/tool', 'v1', image, { auth: ALICE });
  });
  after(async () => {
    await seed?.stop();
    await tokens?.stop();
  });

  test('one token for many requests on one repository; catalog gets its own scope', async () => {
    const client = new RegistryClient({ url: seed.url, credentials: ALICE });
    const before = tokens.tokensIssued();
    seed.clearLog();
    for (let i = 0; i < 4; i++) await client.headManifest('team/app', 'v1', DOCKER_ACCEPT);
    await Promise.all(image.layers.map(async (layer) => readAll((await client.getBlob('team/app', parseDigest(layer.digest)))!.stream)));
    assert.deepEqual(await client.listTags('team/app'), ['v1']);
    assert.equal(tokens.tokensIssued() - before, 1);
    assert.equal(client.tokensFetched, 1);
    assert.deepEqual(tokens.requests.at(-1)!.scopes, ['repository:team/app:pull']);
    assert.equal(tokens.requests.at(-1)!.account, 'alice');
    assert.equal((await seed.requests()).filter((r) => r.status === 401).length, 1, 'only the first request met a challenge');
    assert.deepEqual(await client.catalog(), ['team/app', 'team/tool']);
    assert.deepEqual(tokens.requests.at(-1)!.scopes, ['registry:catalog:*']);
    assert.equal(tokens.tokensIssued() - before, 2);
    await client.close();
  });

  test('an expired token is replaced before use (expires_in)', async () => {
    tokens.setExpiresIn(1);
    try {
      const client = new RegistryClient({ url: seed.url, credentials: ALICE });
      const before = tokens.tokensIssued();
      await client.headManifest('team/app', 'v1', DOCKER_ACCEPT);
      await client.headManifest('team/app', 'v1', DOCKER_ACCEPT);
      assert.equal(tokens.tokensIssued() - before, 1);
      await new Promise((r) => setTimeout(r, 1100));
      seed.clearLog();
      await client.headManifest('team/app', 'v1', DOCKER_ACCEPT);
      assert.equal(tokens.tokensIssued() - before, 2);
      assert.equal((await seed.requests()).filter((r) => r.status === 401).length, 0, 'refreshed without a 401');
      await client.close();
    } finally {
      tokens.setExpiresIn(300);
    }
  });

  test('a token the registry refuses is fetched again and the request retried', async () => {
    const client = new RegistryClient({ url: seed.url, credentials: ALICE });
    await client.headManifest('team/app', 'v1', DOCKER_ACCEPT); // learns the realm
    const before = tokens.tokensIssued();
    tokens.invalidateNext(1);
    seed.clearLog();
    const info = await client.headManifest('team/tool', 'v1', DOCKER_ACCEPT);
    assert.equal(info?.digest.value, image.digest);
    assert.equal(tokens.tokensIssued() - before, 2, 'the refused token and its replacement');
    const log = (await seed.requests()).filter((r) => r.path === '/v2/team/tool/manifests/v1');
    assert.deepEqual(log.map((r) => r.status), [401, 200]);
    await client.close();
  });

  test('wrong password: UNAUTHORIZED from the token server, naming upstream and user', async () => {
    const client = new RegistryClient({ url: seed.url, credentials: { username: 'alice', password: 'bad' }, credentialsSource: 'the shoal config' });
    await assert.rejects(client.getManifest('team/app', 'v1', DOCKER_ACCEPT), (error: unknown) => {
      assert.ok(isOci('UNAUTHORIZED')(error), String(error));
      assert.match((error as Error).message, new RegExp(`upstream ${seed.host.replace(/\./g, '\\.')} rejected the credentials of user "alice" \\(from the shoal config\\)`));
      return true;
    });
    assert.equal(tokens.requests.at(-1)!.status, 401);
    await client.close();
  });

  test('anonymous where pull needs an account: UNAUTHORIZED asking for credentials', async () => {
    const client = new RegistryClient({ url: seed.url });
    await assert.rejects(client.headManifest('team/app', 'v1', DOCKER_ACCEPT), (error: unknown) => {
      assert.ok(isOci('UNAUTHORIZED')(error), String(error));
      assert.match((error as Error).message, /no credentials are configured/);
      return true;
    });
    await client.close();
  });

  test('an account without pull access: DENIED', async () => {
    const client = new RegistryClient({ url: seed.url, credentials: { username: 'carol', password: 'c' } });
    await assert.rejects(client.getBlob('team/app', parseDigest(image.layers[0]!.digest)), (error: unknown) => {
      assert.ok(isOci('DENIED')(error), String(error));
      assert.match((error as Error).message, /denied user "carol" access to repository:team\/app:pull/);
      return true;
    });
    await client.close();
  });
});

describe('upstream client against a quirky registry', () => {
  const storageSeen: IncomingHttpHeaders[] = [];
  const quirkySeen: Array<{ path: string; headers: IncomingHttpHeaders }> = [];
  const blob = Buffer.from('0123456789abcdefghij');
  const blobDigest = sha256(blob);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: {}, layers: [] }));
  const basic = `Basic ${Buffer.from('q:q').toString('base64')}`;
  let storage: Server;
  let quirky: Server;
  let client: RegistryClient;

  const listen = async (server: Server) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  before(async () => {
    storage = createServer((req, res) => {
      storageSeen.push(req.headers);
      const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (!range) return void res.writeHead(200, { 'content-length': blob.byteLength }).end(blob);
      const [start, end] = [Number(range[1]), Math.min(Number(range[2]), blob.byteLength - 1)];
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${blob.byteLength}`, 'content-length': end - start + 1 }).end(blob.subarray(start, end + 1));
    });
    const storageUrl = await listen(storage);
    quirky = createServer((req, res) => {
      const url = new URL(req.url!, 'http://quirky');
      quirkySeen.push({ path: url.pathname + url.search, headers: req.headers });
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      if (req.headers.authorization !== basic) return json(401, { errors: [{ code: 'UNAUTHORIZED' }] }, { 'www-authenticate': 'Basic realm="quirky"' });
      switch (url.pathname) {
        case '/v2/paged/tags/list': {
          const last = url.searchParams.get('last');
          if (!last) return json(200, { name: 'paged', tags: ['a', 'b'] }, { link: '</v2/paged/tags/list?last=b&n=2>; rel="next"' });
          if (last === 'b') return json(200, { name: 'paged', tags: ['c', 'd'] }, { link: `<http://${req.headers.host}/v2/paged/tags/list?last=d&n=2>; rel="next"` });
          return json(200, { name: 'paged', tags: ['e'] });
        }
        case '/v2/lie/manifests/v1':
          return void res.writeHead(200, { 'content-type': MEDIA_TYPES.ociManifest, 'docker-content-digest': sha256('something else') }).end(manifest);
        case `/v2/lie/manifests/${sha256('wanted')}`:
          return void res.writeHead(200, { 'content-type': MEDIA_TYPES.ociManifest }).end(manifest);
        case '/v2/nodigest/manifests/v1':
          return void res.writeHead(200, { 'content-type': 'application/json', 'content-length': manifest.byteLength }).end(req.method === 'HEAD' ? undefined : manifest);
        case `/v2/redirect/blobs/${blobDigest}`:
          return void res.writeHead(307, { location: `${storageUrl}/bucket/blob?sig=1` }).end();
        case `/v2/samehost/blobs/${blobDigest}`:
          return void res.writeHead(302, { location: `/v2/redirect/blobs/${blobDigest}` }).end();
        case '/v2/busy/tags/list':
          return json(503, { errors: [{ code: 'UNAVAILABLE' }] }, { 'retry-after': '7' });
        case '/v2/limited/tags/list':
          return json(429, { errors: [{ code: 'TOOMANYREQUESTS' }] });
        case '/v2/teapot/tags/list':
          return json(418, { errors: [{ code: 'TEAPOT', message: 'short and stout' }] });
        case '/v2/_catalog':
          return json(404, { errors: [{ code: 'UNSUPPORTED' }] });
        default:
          return json(404, { errors: [{ code: 'NAME_UNKNOWN' }] });
      }
    });
    client = new RegistryClient({ url: await listen(quirky), credentials: { username: 'q', password: 'q' }, timeoutMs: 2000 });
  });

  after(async () => {
    await client?.close();
    storage?.closeAllConnections();
    quirky?.closeAllConnections();
    await Promise.all([storage, quirky].map((s) => new Promise((r) => s?.close(r))));
  });

  test('tags pagination follows relative and absolute Link headers', async () => {
    assert.deepEqual(await client.listTags('paged'), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(quirkySeen.filter((s) => s.path.startsWith('/v2/paged') && s.headers.authorization).map((s) => s.path), [
      '/v2/paged/tags/list',
      '/v2/paged/tags/list?last=b&n=2',
      '/v2/paged/tags/list?last=d&n=2',
    ]);
  });

  test('a manifest whose body does not hash to Docker-Content-Digest, or to the digest asked for, is an UpstreamError', async () => {
    await assert.rejects(client.getManifest('lie', 'v1', DOCKER_ACCEPT), (error: unknown) => {
      assert.ok(error instanceof UpstreamError);
      assert.match(error.message, /Docker-Content-Digest/);
      return true;
    });
    await assert.rejects(client.getManifest('lie', sha256('wanted'), DOCKER_ACCEPT), /the requested digest/);
  });

  test('HEAD without Docker-Content-Digest or a manifest Content-Type falls back to GET and hashes the body', async () => {
    const info = await client.headManifest('nodigest', 'v1', DOCKER_ACCEPT);
    assert.deepEqual(info, { digest: parseDigest(sha256(manifest)), mediaType: MEDIA_TYPES.ociManifest, size: manifest.byteLength });
  });

  test('blob redirects to another origin are followed without the Authorization header, Range kept', async () => {
    storageSeen.length = 0;
    const whole = await client.getBlob('redirect', parseDigest(blobDigest));
    assert.ok((await readAll(whole!.stream)).equals(blob));
    const part = await client.getBlob('samehost', parseDigest(blobDigest), { start: 5, end: 9 });
    assert.deepEqual(part?.range, { start: 5, end: 9 });
    assert.equal(part?.size, blob.byteLength);
    assert.equal((await readAll(part!.stream)).toString(), '56789');
    assert.equal(storageSeen.length, 2);
    for (const headers of storageSeen) assert.equal(headers.authorization, undefined);
    assert.equal(storageSeen[1]!.range, 'bytes=5-9');
    const sameOrigin = quirkySeen.filter((s) => s.path === `/v2/redirect/blobs/${blobDigest}`).at(-1);
    assert.equal(sameOrigin?.headers.authorization, basic, 'a same-origin redirect keeps it');
  });

  test('503 and 429 are UpstreamUnavailableError (with Retry-After); other odd answers UpstreamError with the status', async () => {
    await assert.rejects(client.listTags('busy'), (error: unknown) => {
      assert.ok(error instanceof UpstreamUnavailableError);
      assert.equal(error.status, 503);
      assert.equal(error.retryAfterMs, 7000);
      return true;
    });
    await assert.rejects(client.listTags('limited'), (error: unknown) => error instanceof UpstreamUnavailableError && error.status === 429);
    await assert.rejects(client.listTags('teapot'), (error: unknown) => {
      assert.ok(error instanceof UpstreamError);
      assert.equal(error.status, 418);
      assert.match(error.message, /TEAPOT \(short and stout\)/);
      return true;
    });
  });

  test('no catalog offered: []', async () => {
    assert.deepEqual(await client.catalog(), []);
  });
});

test('sha256 helper agrees with node:crypto (sanity for the digests above)', () => {
  assert.equal(sha256('abc'), `sha256:${createHash('sha256').update('abc').digest('hex')}`);
});
