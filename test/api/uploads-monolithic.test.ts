import assert from 'node:assert/strict';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { assertApiVersion, assertError, blobDataPath, errorCodes, makeBlob, pushBlob, rawRequest, type Response } from '../helpers/oci-fixtures.ts';

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

describe('monolithic uploads and cross-repository mounts', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await createTestRegistry();
  });
  after(() => registry.close());

  const post = (url: string, body?: Buffer): Promise<Response> =>
    registry.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/octet-stream' }, ...(body ? { payload: body } : {}) });

  test('POST ?digest= with the body stores the blob: 201 with Location and Docker-Content-Digest', async () => {
    const blob = makeBlob('monolithic body');
    const res = await post(`/v2/mono/a/blobs/uploads/?digest=${blob.digest}`, blob.content);
    assert.equal(res.statusCode, 201, res.body);
    assertApiVersion(res);
    assert.equal(res.headers.location, `/v2/mono/a/blobs/${blob.digest}`);
    assert.equal(res.headers['docker-content-digest'], blob.digest);
    const got = await registry.app.inject({ method: 'GET', url: `/v2/mono/a/blobs/${blob.digest}` });
    assert.deepEqual(got.rawPayload, blob.content);
  });

  test('POST ?digest= with the wrong digest is DIGEST_INVALID and stores nothing', async () => {
    const blob = makeBlob('monolithic sent');
    const claimed = makeBlob('monolithic claimed');
    assertError(await post(`/v2/mono/a/blobs/uploads/?digest=${claimed.digest}`, blob.content), 400, 'DIGEST_INVALID');
    assert.equal(await exists(blobDataPath(registry.dataDir, claimed.digest)), false);
    assert.equal(await exists(blobDataPath(registry.dataDir, blob.digest)), false);
    assert.deepEqual(await readdir(join(registry.dataDir, 'shoal', 'tmp')), [], 'temp file left behind');
  });

  test('POST ?digest= with a malformed digest is DIGEST_INVALID', async () => {
    for (const digest of ['sha256:totallywrong', 'md5:abc', '', `SHA256:${makeBlob('x').hex}`]) {
      assertError(await post(`/v2/mono/a/blobs/uploads/?digest=${digest}`, Buffer.from('x')), 400, 'DIGEST_INVALID', digest);
    }
  });

  test('mount from a repository holding the blob: 201, visible in the new repository', async () => {
    const blob = makeBlob('to be mounted');
    await pushBlob(registry.app, 'mount/source', blob);
    const res = await post(`/v2/mount/target/blobs/uploads/?mount=${blob.digest}&from=mount/source`);
    assert.equal(res.statusCode, 201, res.body);
    assertApiVersion(res);
    assert.equal(res.headers.location, `/v2/mount/target/blobs/${blob.digest}`);
    assert.equal(res.headers['docker-content-digest'], blob.digest);
    const got = await registry.app.inject({ method: 'GET', url: `/v2/mount/target/blobs/${blob.digest}` });
    assert.equal(got.statusCode, 200);
    assert.deepEqual(got.rawPayload, blob.content);
    // mounting again is idempotent
    assert.equal((await post(`/v2/mount/target/blobs/uploads/?mount=${blob.digest}&from=mount/source`)).statusCode, 201);
  });

  test('mount from a repository lacking the blob falls back to a 202 upload session', async () => {
    const blob = makeBlob('not in the source');
    await pushBlob(registry.app, 'mount/elsewhere', blob);
    for (const [i, from] of ['mount/source', 'mount/never-existed'].entries()) {
      const target = `mount/target-${i}`;
      const res = await post(`/v2/${target}/blobs/uploads/?mount=${blob.digest}&from=${from}`);
      assert.equal(res.statusCode, 202, res.body);
      assert.equal(res.headers.range, '0-0');
      const id = String(res.headers['docker-upload-uuid']);
      assert.equal(res.headers.location, `/v2/${target}/blobs/uploads/${id}`);
      assertError(await registry.app.inject({ method: 'GET', url: `/v2/${target}/blobs/${blob.digest}` }), 404, 'BLOB_UNKNOWN');
      // the session works: finishing it pushes the blob
      const put = await registry.app.inject({ method: 'PUT', url: `${res.headers.location}?digest=${blob.digest}`, payload: blob.content, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(put.statusCode, 201, put.body);
    }
  });

  test('mount without from, of a blob only another repository holds, falls back to a session (no mirror)', async () => {
    const blob = makeBlob('no from');
    await pushBlob(registry.app, 'mount/holder', blob);
    const res = await post(`/v2/mount/nofrom/blobs/uploads/?mount=${blob.digest}`);
    assert.equal(res.statusCode, 202);
    assertError(await registry.app.inject({ method: 'HEAD', url: `/v2/mount/nofrom/blobs/${blob.digest}` }), 404, 'BLOB_UNKNOWN');
  });

  test('mount with a digest that is not monolithic: ?mount&digest never stores the body as a blob', async () => {
    const blob = makeBlob('mount plus digest');
    const res = await post(`/v2/mount/both/blobs/uploads/?mount=${blob.digest}&from=mount/none&digest=${blob.digest}`, blob.content);
    assert.equal(res.statusCode, 202);
    assert.equal(await exists(blobDataPath(registry.dataDir, blob.digest)), false);
  });

  test('mount with a bad digest or bad from is DIGEST_INVALID / NAME_INVALID', async () => {
    const blob = makeBlob('bad mount');
    assertError(await post('/v2/mount/t/blobs/uploads/?mount=sha256:bad&from=mount/source'), 400, 'DIGEST_INVALID');
    assertError(await post(`/v2/mount/t/blobs/uploads/?mount=${blob.digest}&from=Bad/Name`), 400, 'NAME_INVALID');
    assertError(await post(`/v2/mount/t/blobs/uploads/?mount=${blob.digest}&from=../../etc`), 400, 'NAME_INVALID');
  });
});

describe('max-upload-size', () => {
  let registry: TestRegistry;
  const limit = 1000;
  before(async () => {
    registry = await createTestRegistry({ maxUploadBytes: limit });
  });
  after(() => registry.close());

  const noTempFiles = async (): Promise<void> => {
    assert.deepEqual(await readdir(join(registry.dataDir, 'shoal', 'tmp')), []);
  };

  test('a blob of exactly the limit is accepted', async () => {
    await pushBlob(registry.app, 'limit/a', makeBlob(Buffer.alloc(limit, 1)));
  });

  test('a monolithic POST over the limit is SIZE_INVALID and stores nothing', async () => {
    const blob = makeBlob(Buffer.alloc(limit + 1, 2));
    const res = await registry.app.inject({ method: 'POST', url: `/v2/limit/a/blobs/uploads/?digest=${blob.digest}`, payload: blob.content, headers: { 'content-type': 'application/octet-stream' } });
    assertError(res, 400, 'SIZE_INVALID');
    assert.equal(await exists(blobDataPath(registry.dataDir, blob.digest)), false);
    await noTempFiles();
  });

  test('PATCHes adding up past the limit are SIZE_INVALID; the session keeps what fit', async () => {
    const start = await registry.app.inject({ method: 'POST', url: '/v2/limit/a/blobs/uploads/' });
    const location = String(start.headers.location);
    const ok = await registry.app.inject({ method: 'PATCH', url: location, payload: Buffer.alloc(600, 3), headers: { 'content-type': 'application/octet-stream', 'content-range': '0-599' } });
    assert.equal(ok.statusCode, 202);
    const over = await registry.app.inject({ method: 'PATCH', url: location, payload: Buffer.alloc(401, 3), headers: { 'content-type': 'application/octet-stream', 'content-range': '600-1000' } });
    assertError(over, 400, 'SIZE_INVALID');
    const st = await registry.app.inject({ method: 'GET', url: location });
    assert.equal(st.headers.range, '0-599');
  });

  test('a final chunk in PUT past the limit is SIZE_INVALID and stores nothing', async () => {
    const blob = makeBlob(Buffer.alloc(limit + 500, 4));
    const start = await registry.app.inject({ method: 'POST', url: '/v2/limit/a/blobs/uploads/' });
    const res = await registry.app.inject({ method: 'PUT', url: `${start.headers.location}?digest=${blob.digest}`, payload: blob.content, headers: { 'content-type': 'application/octet-stream' } });
    assertError(res, 400, 'SIZE_INVALID');
    assert.equal(await exists(blobDataPath(registry.dataDir, blob.digest)), false);
  });
  test('refusals in the middle of a large body still answer over a real socket', async () => {
    await registry.app.listen({ host: '127.0.0.1', port: 0 });
    const big = Buffer.alloc(5 * 1024 * 1024, 6);
    const expect = async (method: string, path: string, headers: Record<string, string | number>, status: number, code: string): Promise<void> => {
      const res = await rawRequest(registry.app, method, path, big, headers);
      assert.equal(res.statusCode, status, `${method} ${path} ${JSON.stringify(headers)}: ${res.body}`);
      assert.deepEqual(errorCodes({ statusCode: res.statusCode, body: res.body } as never), [code]);
    };
    const start = await registry.app.inject({ method: 'POST', url: '/v2/limit/socket/blobs/uploads/' });
    const location = String(start.headers.location);
    await expect('PATCH', location, { 'content-range': '0-3' }, 416, 'BLOB_UPLOAD_INVALID');
    await expect('PATCH', location, {}, 400, 'SIZE_INVALID');
    await expect('PATCH', location, { 'transfer-encoding': 'chunked' }, 400, 'SIZE_INVALID');
    await expect('POST', `/v2/limit/socket/blobs/uploads/?digest=${makeBlob(big).digest}`, { 'transfer-encoding': 'chunked' }, 400, 'SIZE_INVALID');
    await expect('PUT', '/v2/limit/socket/manifests/v1', { 'transfer-encoding': 'chunked', 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, 413, 'MANIFEST_INVALID');
    await noTempFiles();
  });
});
