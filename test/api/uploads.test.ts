import assert from 'node:assert/strict';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { assertApiVersion, assertError, blobDataPath, makeBlob, type Response } from '../helpers/oci-fixtures.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

describe('chunked uploads', () => {
  let registry: TestRegistry;
  const name = 'up/chunked';
  before(async () => {
    registry = await createTestRegistry();
  });
  after(() => registry.close());

  const start = async (repo = name): Promise<{ location: string; id: string }> => {
    const res = await registry.app.inject({ method: 'POST', url: `/v2/${repo}/blobs/uploads/` });
    assert.equal(res.statusCode, 202, res.body);
    const id = String(res.headers['docker-upload-uuid']);
    return { location: String(res.headers.location), id };
  };
  const patch = (location: string, body: Buffer | Readable, contentRange?: string): Promise<Response> =>
    registry.app.inject({ method: 'PATCH', url: location, headers: { 'content-type': 'application/octet-stream', ...(contentRange ? { 'content-range': contentRange } : {}) }, payload: body });
  const status = (location: string): Promise<Response> => registry.app.inject({ method: 'GET', url: location });
  const finish = (location: string, digest: string | undefined, body?: Buffer): Promise<Response> =>
    registry.app.inject({ method: 'PUT', url: digest === undefined ? location : `${location}?digest=${digest}`, headers: { 'content-type': 'application/octet-stream' }, ...(body ? { payload: body } : {}) });
  const assertBlob = async (repo: string, blob: ReturnType<typeof makeBlob>): Promise<void> => {
    const res = await registry.app.inject({ method: 'GET', url: `/v2/${repo}/blobs/${blob.digest}` });
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(res.rawPayload.equals(blob.content));
  };
  const assertCreated = (res: Response, repo: string, digest: string): void => {
    assert.equal(res.statusCode, 201, res.body);
    assertApiVersion(res);
    assert.equal(res.headers.location, `/v2/${repo}/blobs/${digest}`);
    assert.equal(res.headers['docker-content-digest'], digest);
    assert.equal(res.headers['content-length'], '0');
  };

  test('POST starts a session: 202 with Location, Range 0-0 and Docker-Upload-UUID', async () => {
    const res = await registry.app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads/` });
    assert.equal(res.statusCode, 202);
    assertApiVersion(res);
    const id = String(res.headers['docker-upload-uuid']);
    assert.match(id, UUID);
    assert.equal(res.headers.location, `/v2/${name}/blobs/uploads/${id}`);
    assert.equal(res.headers.range, '0-0');
    assert.equal(res.headers['content-length'], '0');
    // without the trailing slash too
    const res2 = await registry.app.inject({ method: 'POST', url: `/v2/${name}/blobs/uploads` });
    assert.equal(res2.statusCode, 202);
    assert.notEqual(res2.headers['docker-upload-uuid'], id);
  });

  test('PATCH chunks in order with Content-Range, GET status, PUT with the digest and no body', async () => {
    const blob = makeBlob(Buffer.from('abcdefghijklmnopqrstuvwxyz'));
    const { location, id } = await start();
    const first = await patch(location, blob.content.subarray(0, 10), '0-9');
    assert.equal(first.statusCode, 202, first.body);
    assert.equal(first.headers.range, '0-9');
    assert.equal(first.headers['docker-upload-uuid'], id);
    assert.equal(first.headers.location, location);
    assert.equal(first.headers['content-length'], '0');

    const st = await status(location);
    assert.equal(st.statusCode, 204);
    assertApiVersion(st);
    assert.equal(st.headers.range, '0-9');
    assert.equal(st.headers['docker-upload-uuid'], id);
    assert.equal(st.headers.location, location);

    const second = await patch(location, blob.content.subarray(10), '10-25');
    assert.equal(second.statusCode, 202);
    assert.equal(second.headers.range, '0-25');

    assertCreated(await finish(location, blob.digest), name, blob.digest);
    await assertBlob(name, blob);
    // the session is gone
    assertError(await status(location), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('the RFC form of Content-Range (bytes a-b/total) is accepted', async () => {
    const blob = makeBlob('rfc form chunk');
    const { location } = await start();
    const res = await patch(location, blob.content, `bytes 0-${blob.size - 1}/${blob.size}`);
    assert.equal(res.statusCode, 202, res.body);
    assertCreated(await finish(location, blob.digest), name, blob.digest);
  });

  test('PUT carries the final chunk', async () => {
    const blob = makeBlob('first part|final part');
    const { location } = await start();
    assert.equal((await patch(location, blob.content.subarray(0, 11), '0-10')).statusCode, 202);
    assertCreated(await finish(location, blob.digest, blob.content.subarray(11)), name, blob.digest);
    await assertBlob(name, blob);
  });

  test('a whole blob in the PUT of a fresh session', async () => {
    const blob = makeBlob('all in the put');
    const { location } = await start();
    assertCreated(await finish(location, blob.digest, blob.content), name, blob.digest);
    await assertBlob(name, blob);
  });

  test('an empty blob: POST then PUT with no body', async () => {
    const blob = makeBlob(Buffer.alloc(0));
    const { location } = await start();
    assertCreated(await finish(location, blob.digest), name, blob.digest);
    await assertBlob(name, blob);
  });

  test('PATCH without Content-Range streams: the body is appended as it comes', async () => {
    const blob = makeBlob(Buffer.alloc(1024 * 1024 + 3, 9));
    const { location } = await start();
    const body = Readable.from((function* () {
      for (let i = 0; i < blob.size; i += 100_000) yield blob.content.subarray(i, i + 100_000);
    })());
    const res = await registry.app.inject({ method: 'PATCH', url: location, headers: { 'transfer-encoding': 'chunked' }, payload: body });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.headers.range, `0-${blob.size - 1}`);
    // and a second streamed PATCH continues where the first ended
    const tail = Buffer.from('tail');
    const res2 = await patch(location, tail);
    assert.equal(res2.headers.range, `0-${blob.size + tail.byteLength - 1}`);
    const whole = makeBlob(Buffer.concat([blob.content, tail]));
    assertCreated(await finish(location, whole.digest), name, whole.digest);
    await assertBlob(name, whole);
  });

  test('an out-of-order chunk is 416 BLOB_UPLOAD_INVALID with the current Range; the upload continues', async () => {
    const blob = makeBlob('0123456789abcdef');
    const { location } = await start();
    assert.equal((await patch(location, blob.content.subarray(0, 8), '0-7')).statusCode, 202);
    for (const range of ['9-15', '0-7', '4-11']) {
      const res = await patch(location, blob.content.subarray(8), range);
      assertError(res, 416, 'BLOB_UPLOAD_INVALID', range);
      assert.equal(res.headers.range, '0-7', range);
    }
    assert.equal((await status(location)).headers.range, '0-7');
    assert.equal((await patch(location, blob.content.subarray(8), '8-15')).statusCode, 202);
    assertCreated(await finish(location, blob.digest), name, blob.digest);
    await assertBlob(name, blob);
  });

  test('a last chunk out of order on the PUT is 416 with the current Range; the upload is kept and finishes', async () => {
    const blob = makeBlob('0123456789abcdef');
    const { location } = await start();
    assert.equal((await patch(location, blob.content.subarray(0, 8), '0-7')).statusCode, 202);
    const put = (range: string): Promise<Response> =>
      registry.app.inject({ method: 'PUT', url: `${location}?digest=${blob.digest}`, headers: { 'content-type': 'application/octet-stream', 'content-range': range }, payload: blob.content.subarray(12) });
    const res = await put('12-15');
    assertError(res, 416, 'BLOB_UPLOAD_INVALID');
    assert.equal(res.headers.range, '0-7');
    assert.equal((await status(location)).headers.range, '0-7');
    const last = await registry.app.inject({ method: 'PUT', url: `${location}?digest=${blob.digest}`, headers: { 'content-type': 'application/octet-stream', 'content-range': '8-15' }, payload: blob.content.subarray(8) });
    assertCreated(last, name, blob.digest);
    await assertBlob(name, blob);
  });

  test('a malformed Content-Range is 416 BLOB_UPLOAD_INVALID', async () => {
    const { location } = await start();
    for (const range of ['abc', '5-2', '-5', '0-', 'bytes=0-3', '0-3,4-5', '0x0-3']) {
      assertError(await patch(location, Buffer.from('abcd'), range), 416, 'BLOB_UPLOAD_INVALID', range);
    }
    assert.equal((await status(location)).headers.range, '0-0');
  });

  test('a chunk longer or shorter than its Content-Range is 416 and the Range says what was kept', async () => {
    const { location } = await start();
    const longer = await patch(location, Buffer.from('abcdef'), '0-3');
    assertError(longer, 416, 'BLOB_UPLOAD_INVALID');
    const afterLonger = (await status(location)).headers.range;
    assert.equal(longer.headers.range, afterLonger);
    const shorter = await patch(location, Buffer.from('ab'), '0-3');
    assertError(shorter, 416, 'BLOB_UPLOAD_INVALID');
    assert.equal(shorter.headers.range, (await status(location)).headers.range);
  });

  test('PUT without a digest is DIGEST_INVALID and the session survives', async () => {
    const blob = makeBlob('needs a digest');
    const { location } = await start();
    assert.equal((await patch(location, blob.content)).statusCode, 202);
    assertError(await finish(location, undefined), 400, 'DIGEST_INVALID');
    assertError(await finish(location, 'sha256:nothex'), 400, 'DIGEST_INVALID');
    assert.equal((await status(location)).statusCode, 204);
    assertCreated(await finish(location, blob.digest), name, blob.digest);
  });

  test('a digest mismatch is DIGEST_INVALID and stores nothing under either digest', async () => {
    const blob = makeBlob('what was sent');
    const claimed = makeBlob('what was claimed');
    const { location, id } = await start();
    assert.equal((await patch(location, blob.content)).statusCode, 202);
    assertError(await finish(location, claimed.digest), 400, 'DIGEST_INVALID');
    assert.equal(await exists(blobDataPath(registry.dataDir, claimed.digest)), false);
    assert.equal(await exists(blobDataPath(registry.dataDir, blob.digest)), false);
    assertError(await registry.app.inject({ method: 'HEAD', url: `/v2/${name}/blobs/${claimed.digest}` }), 404, 'BLOB_UNKNOWN');
    assertError(await registry.app.inject({ method: 'HEAD', url: `/v2/${name}/blobs/${blob.digest}` }), 404, 'BLOB_UNKNOWN');
    // the session is cancelled, as registry:2 does, and its files are gone
    assertError(await status(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    const uploads = await readdir(join(registry.dataDir, 'docker/registry/v2/repositories', name, '_uploads'));
    assert.ok(!uploads.includes(id));
  });

  test('a digest mismatch carried by the final chunk also stores nothing', async () => {
    const blob = makeBlob('final chunk mismatch');
    const { location } = await start();
    assertError(await finish(location, makeBlob('other').digest, blob.content), 400, 'DIGEST_INVALID');
    assert.equal(await exists(blobDataPath(registry.dataDir, blob.digest)), false);
  });

  test('unknown and garbage upload ids are BLOB_UPLOAD_UNKNOWN on every method', async () => {
    const ids = ['0b0e7a3c-8b4e-4c5e-9d7e-3e7a1c1f2b3a', 'garbage', '...', '%2e%2e%2e', 'x'.repeat(300), '0B0E7A3C-8B4E-4C5E-9D7E-3E7A1C1F2B3A'];
    for (const id of ids) {
      const location = `/v2/${name}/blobs/uploads/${id}`;
      assertError(await status(location), 404, 'BLOB_UPLOAD_UNKNOWN', id);
      assertError(await patch(location, Buffer.from('x')), 404, 'BLOB_UPLOAD_UNKNOWN', id);
      assertError(await finish(location, makeBlob('x').digest, Buffer.from('x')), 404, 'BLOB_UPLOAD_UNKNOWN', id);
      assertError(await registry.app.inject({ method: 'DELETE', url: location }), 404, 'BLOB_UPLOAD_UNKNOWN', id);
    }
  });

  test('an upload id is bound to its repository', async () => {
    const { id } = await start('up/owner');
    assertError(await status(`/v2/up/intruder/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
    assertError(await patch(`/v2/up/intruder/blobs/uploads/${id}`, Buffer.from('x')), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await status(`/v2/up/owner/blobs/uploads/${id}`)).statusCode, 204);
  });

  test('DELETE cancels: 204, then the session is BLOB_UPLOAD_UNKNOWN', async () => {
    const { location } = await start();
    assert.equal((await patch(location, Buffer.from('partial'))).statusCode, 202);
    const res = await registry.app.inject({ method: 'DELETE', url: location });
    assert.equal(res.statusCode, 204);
    assertApiVersion(res);
    assertError(await status(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    assertError(await patch(location, Buffer.from('more')), 404, 'BLOB_UPLOAD_UNKNOWN');
    assertError(await registry.app.inject({ method: 'DELETE', url: location }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('concurrent PATCHes to one session are serialised, never interleaved', async () => {
    const { location, id } = await start();
    const parts = Array.from({ length: 8 }, (_, i) => Buffer.alloc(50_000, i + 1));
    const results = await Promise.all(parts.map((p) => patch(location, p)));
    for (const r of results) assert.equal(r.statusCode, 202);
    assert.equal((await status(location)).headers.range, `0-${8 * 50_000 - 1}`);
    // whatever the order, each part lies in one piece: runs of 50000 equal bytes, each fill once
    const data = await readFile(join(registry.dataDir, 'docker/registry/v2/repositories', name, '_uploads', id, 'data'));
    assert.equal(data.byteLength, 8 * 50_000);
    const fills = new Set<number>();
    for (let i = 0; i < 8; i += 1) {
      const run = data.subarray(i * 50_000, (i + 1) * 50_000);
      assert.ok(run.every((b) => b === run[0]), `part ${i} is interleaved`);
      fills.add(run[0]!);
    }
    assert.equal(fills.size, 8);
    const whole = makeBlob(data);
    assertCreated(await finish(location, whole.digest), name, whole.digest);
    await assertBlob(name, whole);
  });

  test('a retried PUT racing the first: one 201, the others BLOB_UPLOAD_UNKNOWN, never a 500', async () => {
    const blob = makeBlob('finished twice');
    const { location } = await start();
    assert.equal((await patch(location, blob.content)).statusCode, 202);
    const results = await Promise.all([1, 2, 3].map(() => finish(location, blob.digest)));
    const created = results.filter((r) => r.statusCode === 201);
    assert.equal(created.length, 1, results.map((r) => `${r.statusCode} ${r.body}`).join('\n'));
    for (const r of results.filter((x) => x.statusCode !== 201)) assertError(r, 404, 'BLOB_UPLOAD_UNKNOWN');
    await assertBlob(name, blob);
  });

  test('upload endpoints validate the repository name', async () => {
    assertError(await registry.app.inject({ method: 'POST', url: '/v2/Up/Bad/blobs/uploads/' }), 400, 'NAME_INVALID');
    assertError(await registry.app.inject({ method: 'PATCH', url: '/v2/up//bad/blobs/uploads/0b0e7a3c-8b4e-4c5e-9d7e-3e7a1c1f2b3a', payload: 'x' }), 400, 'NAME_INVALID');
  });
});
