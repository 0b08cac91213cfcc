import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestRegistry } from '../helpers/registry-app.ts';
import { assertError, makeBlob, pushImage } from '../helpers/oci-fixtures.ts';

describe('restarting over the same data directory', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'shoal-restart-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  test('pushed images, and an unfinished chunked upload, survive; leftover temp files are removed', async () => {
    const blob = makeBlob(Buffer.alloc(300_000, 5));
    const first = await createTestRegistry({ dataDir });
    const { manifest } = await pushImage(first.app, 'restart/app', 'v1');
    const start = await first.app.inject({ method: 'POST', url: '/v2/restart/app/blobs/uploads/' });
    const location = String(start.headers.location);
    const patch = await first.app.inject({ method: 'PATCH', url: location, payload: blob.content.subarray(0, 100_000), headers: { 'content-type': 'application/octet-stream', 'content-range': '0-99999' } });
    assert.equal(patch.statusCode, 202);
    // what a crash in the middle of a blob write leaves behind
    await writeFile(join(dataDir, 'shoal', 'tmp', 'blob-crashed'), 'half a blob');
    await first.app.close();

    const second = await createTestRegistry({ dataDir });
    try {
      assert.deepEqual(await readdir(join(dataDir, 'shoal', 'tmp')), []);
      const got = await second.app.inject({ method: 'GET', url: '/v2/restart/app/manifests/v1' });
      assert.equal(got.statusCode, 200);
      assert.equal(got.headers['docker-content-digest'], manifest.digest);
      const status = await second.app.inject({ method: 'GET', url: location });
      assert.equal(status.statusCode, 204);
      assert.equal(status.headers.range, '0-99999');
      const out = await second.app.inject({ method: 'PATCH', url: location, payload: blob.content.subarray(0, 10), headers: { 'content-type': 'application/octet-stream', 'content-range': '0-9' } });
      assertError(out, 416, 'BLOB_UPLOAD_INVALID');
      assert.equal(out.headers.range, '0-99999');
      const put = await second.app.inject({ method: 'PUT', url: `${location}?digest=${blob.digest}`, payload: blob.content.subarray(100_000), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(put.statusCode, 201, put.body);
      const pulled = await second.app.inject({ method: 'GET', url: `/v2/restart/app/blobs/${blob.digest}` });
      assert.ok(pulled.rawPayload.equals(blob.content));
    } finally {
      await second.close();
    }
  });
});
