import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { assertError, errorCodes, imageManifest, listFiles, makeBlob, pushBlob, pushImage, putManifest, rawRequest } from '../helpers/oci-fixtures.ts';

const blob = makeBlob('bad input blob');
const digest = blob.digest;
const uploadId = '0b0e7a3c-8b4e-4c5e-9d7e-3e7a1c1f2b3a';

/** Every endpoint shape with a repository name in it, and a method each answers. */
function endpointsFor(name: string): Array<[string, string]> {
  return [
    ['GET', `/v2/${name}/tags/list`],
    ['GET', `/v2/${name}/manifests/latest`],
    ['HEAD', `/v2/${name}/manifests/${digest}`],
    ['PUT', `/v2/${name}/manifests/latest`],
    ['DELETE', `/v2/${name}/manifests/latest`],
    ['GET', `/v2/${name}/blobs/${digest}`],
    ['DELETE', `/v2/${name}/blobs/${digest}`],
    ['POST', `/v2/${name}/blobs/uploads/`],
    ['POST', `/v2/${name}/blobs/uploads/?digest=${digest}`],
    ['GET', `/v2/${name}/blobs/uploads/${uploadId}`],
    ['PATCH', `/v2/${name}/blobs/uploads/${uploadId}`],
    ['PUT', `/v2/${name}/blobs/uploads/${uploadId}?digest=${digest}`],
    ['DELETE', `/v2/${name}/blobs/uploads/${uploadId}`],
    ['GET', `/v2/${name}/referrers/${digest}`],
  ];
}

describe('bad names, digests, tags and paths', () => {
  let registry: TestRegistry;
  let root: string;
  before(async () => {
    // the data dir inside a directory of our own, to see that nothing lands beside it
    root = await mkdtemp(join(tmpdir(), 'shoal-bad-input-'));
    registry = await createTestRegistry({ dataDir: join(root, 'data') });
    await registry.app.listen({ host: '127.0.0.1', port: 0 });
    await pushImage(registry.app, 'good/repo', 'v1');
    await pushBlob(registry.app, 'good/repo', blob);
  });
  after(async () => {
    await registry.close();
    await rm(root, { recursive: true, force: true });
  });

  const invalidNames = [
    'Upper',
    'good/Repo',
    'a//b',
    '/leading',
    'trailing/',
    '-dash',
    'dash-',
    'a..b',
    'a___b',
    'a%20b',
    'a%2Fb',
    'a%2fb',
    '%2Fetc',
    'good%2Frepo',
    'a%00b',
    'a%zzb',
    `${'a'.repeat(128)}/${'b'.repeat(127)}`, // 256 characters
    'n'.repeat(300),
    'n/'.repeat(1500) + 'n',
    'n/'.repeat(3000) + 'n', // over fastify's parameter length too
  ];

  test('invalid repository names are 400 NAME_INVALID on every endpoint', async () => {
    for (const name of invalidNames) {
      for (const [method, url] of endpointsFor(name)) {
        const res = await registry.app.inject({ method: method as 'GET', url, ...(method === 'PUT' || method === 'PATCH' || method === 'POST' ? { payload: 'x' } : {}) });
        assertError(res, 400, 'NAME_INVALID', `${method} ${url.slice(0, 120)}`);
      }
    }
  });

  test('a 255-character name is valid', async () => {
    const name = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    assert.equal(name.length, 255);
    await pushImage(registry.app, name, 'v1');
    const res = await registry.app.inject({ method: 'GET', url: `/v2/${name}/tags/list` });
    assert.deepEqual(res.json().tags, ['v1']);
  });

  test('an escaped slash never splits a name: good%2Frepo is not good/repo', async () => {
    assertError(await registry.app.inject({ method: 'GET', url: '/v2/good%2Frepo/manifests/v1' }), 400, 'NAME_INVALID');
    assertError(await registry.app.inject({ method: 'GET', url: `/v2/good%2Frepo/blobs/${digest}` }), 400, 'NAME_INVALID');
    // and in the tag position it is a bad tag, not a path: no such manifest
    assertError(await registry.app.inject({ method: 'GET', url: '/v2/good/repo/manifests/v1%2F..%2F..' }), 404, 'MANIFEST_UNKNOWN');
    assertError(await registry.app.inject({ method: 'GET', url: '/v2/good/manifests/repo%2Fmanifests%2Fv1' }), 404, 'MANIFEST_UNKNOWN');
  });

  test('bad digests are 400 DIGEST_INVALID wherever a digest goes', async () => {
    const bad = ['sha256:totallywrong', 'md5:abc', `SHA256:${blob.hex}`, `sha256:${blob.hex.toUpperCase()}`, `sha256:${blob.hex.slice(1)}`, 'sha256:', ':abc', 'sha256%3A', `sha512:${blob.hex}`, `sha256:${blob.hex}%00`];
    for (const d of bad) {
      for (const [method, url] of [
        ['GET', `/v2/good/repo/blobs/${d}`],
        ['HEAD', `/v2/good/repo/blobs/${d}`],
        ['DELETE', `/v2/good/repo/blobs/${d}`],
        ['DELETE', `/v2/good/repo/manifests/${d}`],
        ['GET', `/v2/good/repo/referrers/${d}`],
        ['POST', `/v2/good/repo/blobs/uploads/?digest=${d}`],
        ['POST', `/v2/good/repo/blobs/uploads/?mount=${d}&from=good/repo`],
      ] as const) {
        const res = await registry.app.inject({ method, url, ...(method === 'POST' ? { payload: 'x' } : {}) });
        assertError(res, 400, 'DIGEST_INVALID', `${method} ${url}`);
      }
    }
  });

  test('item 6: GET/HEAD of a manifest whose reference is neither a tag nor a digest is 404 MANIFEST_UNKNOWN (OCI conformance v1.1.1); PUT and DELETE stay 400', async () => {
    const manifest = imageManifest();
    for (const tag of ['.INVALID_MANIFEST_NAME', 'bad!tag', 'has%20space', '-dash', '.dot', 't'.repeat(129), 'a*b', 'a%2Fb', 'tab%09', '%00', '%E2%82%AC']) {
      for (const method of ['GET', 'HEAD'] as const) {
        assertError(await registry.app.inject({ method, url: `/v2/good/repo/manifests/${tag}` }), 404, 'MANIFEST_UNKNOWN', `${method} ${tag}`);
      }
      assertError(await registry.app.inject({ method: 'DELETE', url: `/v2/good/repo/manifests/${tag}` }), 400, 'TAG_INVALID', `DELETE ${tag}`);
      assertError(await putManifest(registry.app, 'good/repo', tag, manifest), 400, 'TAG_INVALID', `PUT ${tag}`);
    }
    for (const digest of ['sha256:totallywrong', `sha256:${blob.hex.slice(1)}`, 'md5:abc']) {
      for (const method of ['GET', 'HEAD'] as const) {
        assertError(await registry.app.inject({ method, url: `/v2/good/repo/manifests/${digest}` }), 404, 'MANIFEST_UNKNOWN', `${method} ${digest}`);
      }
    }
  });

  const rawPaths = [
    '/v2/../../etc/passwd',
    '/v2/../tags/list',
    '/v2/good/../../../../tmp/x/tags/list',
    '/v2/%2e%2e/%2e%2e/tags/list',
    '/v2/%2E%2E/tags/list',
    '/v2/good/%2e%2e/%2e%2e/%2e%2e/evil/manifests/v1',
    '/v2/..%2f..%2f..%2fevil/manifests/v1',
    '/v2/.%2e/.%2e/evil/tags/list',
    '/v2/good/repo/manifests/..',
    '/v2/good/repo/manifests/%2e%2e',
    '/v2/good/repo/blobs/..',
    '/v2/good/repo/blobs/uploads/..',
    '/v2/good/repo/blobs/uploads/%2e%2e%2f%2e%2e%2fdata',
    '/v2/good/repo/referrers/..',
    '/v2//etc/tags/list',
    '/v2/a//b/manifests/v1',
    '/v2/good/repo/manifests/v1/..',
    '/v2/good/repo/tags/list/..',
    '/v2/good/./repo/tags/list',
    '/v2/%zz/tags/list',
    '/v2/good%00/tags/list',
  ];

  test('traversal attempts over a real socket: 4xx spec errors, never 500', async () => {
    for (const path of rawPaths) {
      for (const method of ['GET', 'PUT', 'POST', 'PATCH', 'DELETE']) {
        const res = await rawRequest(registry.app, method, path, method === 'GET' || method === 'DELETE' ? undefined : Buffer.from('{"schemaVersion":2}'));
        assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${method} ${path}: ${res.statusCode} ${res.body}`);
        assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
        const codes = errorCodes({ statusCode: res.statusCode, body: res.body } as never);
        assert.equal(codes.length, 1);
        assert.ok(['NAME_INVALID', 'TAG_INVALID', 'DIGEST_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'UNSUPPORTED', 'NAME_UNKNOWN', 'MANIFEST_UNKNOWN'].includes(codes[0]!), `${method} ${path}: ${codes[0]}`);
      }
    }
  });

  test('specific answers for dot-segments over a real socket', async () => {
    const expect = async (method: string, path: string, status: number, code: string): Promise<void> => {
      const res = await rawRequest(registry.app, method, path);
      assert.equal(res.statusCode, status, `${method} ${path}: ${res.body}`);
      assert.deepEqual(errorCodes({ statusCode: res.statusCode, body: res.body } as never), [code], `${method} ${path}`);
    };
    await expect('GET', '/v2/../tags/list', 400, 'NAME_INVALID');
    await expect('GET', '/v2/%2e%2e/%2e%2e/tags/list', 400, 'NAME_INVALID');
    await expect('GET', '/v2/good/../repo/tags/list', 400, 'NAME_INVALID');
    await expect('GET', '/v2/good/repo/manifests/..', 404, 'MANIFEST_UNKNOWN');
    await expect('PUT', '/v2/good/repo/manifests/..', 400, 'TAG_INVALID');
    await expect('GET', '/v2/good/repo/manifests/%2e%2e', 404, 'MANIFEST_UNKNOWN');
    await expect('GET', '/v2/good/repo/blobs/..', 400, 'DIGEST_INVALID');
    await expect('GET', '/v2/good/repo/referrers/..', 400, 'DIGEST_INVALID');
    await expect('GET', '/v2/good/repo/blobs/uploads/..', 404, 'BLOB_UPLOAD_UNKNOWN');
    await expect('PUT', `/v2/good/repo/blobs/uploads/%2e%2e?digest=${digest}`, 404, 'BLOB_UPLOAD_UNKNOWN');
    await expect('GET', '/v2/a//b/manifests/v1', 400, 'NAME_INVALID');
    // the good repository is still intact and served
    const ok = await rawRequest(registry.app, 'GET', '/v2/good/repo/manifests/v1');
    assert.equal(ok.statusCode, 200);
  });

  test('nothing was written outside the data dir, nor any repository beyond the valid ones', async () => {
    assert.deepEqual(await readdir(root), ['data']);
    const files = await listFiles(join(root, 'data'));
    for (const file of files) {
      // shoal's own records (pushed manifests, access times) live beside the registry:2 tree.
      assert.match(file, /^(docker\/registry\/v2\/(blobs\/sha256\/[0-9a-f]{2}\/[0-9a-f]{64}\/data|repositories\/(good\/repo|a{127}\/b{127})\/_(layers|manifests)\/)|shoal\/(pushed|access-times)\.json$)/, file);
    }
    assert.deepEqual(await readdir(join(root, 'data', 'shoal', 'tmp')), []);
  });
});
