import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { assertApiVersion, assertError, blobDataPath, makeBlob, pushBlob, type Response } from '../helpers/oci-fixtures.ts';

describe('blob GET/HEAD/DELETE', () => {
  let registry: TestRegistry;
  const name = 'blobs/repo';
  // 10 bytes: offsets are easy to read in the assertions
  const blob = makeBlob('0123456789');
  const big = makeBlob(Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  const empty = makeBlob(Buffer.alloc(0));
  before(async () => {
    registry = await createTestRegistry();
    await pushBlob(registry.app, name, blob);
    await pushBlob(registry.app, name, big);
    await pushBlob(registry.app, name, empty);
  });
  after(() => registry.close());

  const get = (range?: string, digest = blob.digest, method: 'GET' | 'HEAD' = 'GET'): Promise<Response> =>
    registry.app.inject({ method, url: `/v2/${name}/blobs/${digest}`, headers: range === undefined ? {} : { range } });

  const assertWhole = (res: Response, expected = blob): void => {
    assert.equal(res.statusCode, 200, res.body.slice(0, 200));
    assertApiVersion(res);
    assert.equal(res.headers['docker-content-digest'], expected.digest);
    assert.equal(res.headers['content-length'], String(expected.size));
    assert.equal(res.headers['accept-ranges'], 'bytes');
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.equal(res.headers['content-range'], undefined);
  };

  test('GET serves the whole blob with Docker-Content-Digest, Content-Length and Accept-Ranges', async () => {
    const res = await get();
    assertWhole(res);
    assert.deepEqual(res.rawPayload, blob.content);
  });

  test('GET serves a multi-megabyte blob intact', async () => {
    const res = await get(undefined, big.digest);
    assertWhole(res, big);
    assert.ok(res.rawPayload.equals(big.content));
  });

  test('GET and HEAD of an empty blob', async () => {
    const res = await get(undefined, empty.digest);
    assertWhole(res, empty);
    assert.equal(res.rawPayload.byteLength, 0);
    const head = await get(undefined, empty.digest, 'HEAD');
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers['content-length'], '0');
  });

  test('HEAD answers the size and digest with no body', async () => {
    const res = await get(undefined, blob.digest, 'HEAD');
    assertWhole(res);
    assert.equal(res.body, '');
  });

  const ranges: Array<[string, number, number]> = [
    ['bytes=0-0', 0, 0],
    ['bytes=5-', 5, 9],
    ['bytes=-3', 7, 9],
    ['bytes=2-4', 2, 4],
    ['bytes=0-9', 0, 9],
    ['bytes=3-1000', 3, 9],
    ['bytes=-1000', 0, 9],
    ['bytes=9-9', 9, 9],
    ['bytes = 1 - 2', 1, 2],
  ];
  for (const [header, start, end] of ranges) {
    test(`Range ${header} → 206 bytes ${start}-${end}/10`, async () => {
      const res = await get(header);
      assert.equal(res.statusCode, 206, res.body);
      assert.equal(res.headers['content-range'], `bytes ${start}-${end}/10`);
      assert.equal(res.headers['content-length'], String(end - start + 1));
      assert.equal(res.headers['docker-content-digest'], blob.digest);
      assert.equal(res.headers['accept-ranges'], 'bytes');
      assert.deepEqual(res.rawPayload, blob.content.subarray(start, end + 1));
    });
  }

  test('a range in the middle of a multi-megabyte blob', async () => {
    const res = await get('bytes=1048570-2097160', big.digest);
    assert.equal(res.statusCode, 206);
    assert.equal(res.headers['content-range'], `bytes 1048570-2097160/${big.size}`);
    assert.ok(res.rawPayload.equals(big.content.subarray(1048570, 2097161)));
  });

  const unsatisfiable = ['bytes=10-', 'bytes=10-20', 'bytes=100-200', 'bytes=5-2', 'bytes=0-1,3-4', 'bytes=-0', 'bytes=-', 'bytes=a-b', 'bytes=1-2-3', 'bytes=99999999999999999999-'];
  for (const header of unsatisfiable) {
    test(`Range ${header} → 416 RANGE_INVALID with Content-Range: bytes */10`, async () => {
      const res = await get(header);
      assertError(res, 416, 'RANGE_INVALID', header);
      assert.equal(res.headers['content-range'], 'bytes */10');
    });
  }

  test('any range of an empty blob is unsatisfiable', async () => {
    const res = await get('bytes=0-0', empty.digest);
    assertError(res, 416, 'RANGE_INVALID');
    assert.equal(res.headers['content-range'], 'bytes */0');
  });

  test('a Range with another unit is ignored: 200 with the whole blob', async () => {
    for (const header of ['items=0-1', 'pages=1-2', 'garbage']) {
      const res = await get(header);
      assertWhole(res);
      assert.deepEqual(res.rawPayload, blob.content);
    }
  });

  test('a Range on an unknown blob is BLOB_UNKNOWN, not a range error', async () => {
    assertError(await get('bytes=0-0', makeBlob('absent').digest), 404, 'BLOB_UNKNOWN');
  });

  test('unknown blobs are 404 BLOB_UNKNOWN on GET and HEAD', async () => {
    const absent = makeBlob('absent');
    assertError(await get(undefined, absent.digest), 404, 'BLOB_UNKNOWN');
    const head = await get(undefined, absent.digest, 'HEAD');
    assertError(head, 404, 'BLOB_UNKNOWN');
  });

  test('a blob is not served from a repository it was not pushed to', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      assertError(await registry.app.inject({ method, url: `/v2/blobs/other/blobs/${blob.digest}` }), 404, 'BLOB_UNKNOWN', method);
    }
    // nor by deleting through the other repository
    assertError(await registry.app.inject({ method: 'DELETE', url: `/v2/blobs/other/blobs/${blob.digest}` }), 404, 'BLOB_UNKNOWN');
    assert.equal((await get()).statusCode, 200);
  });

  test('malformed digests are DIGEST_INVALID on GET, HEAD and DELETE', async () => {
    for (const digest of ['sha256:totallywrong', 'md5:abc', `SHA256:${blob.hex}`, `sha256:${blob.hex.toUpperCase()}`, `sha256:${blob.hex}0`, 'sha256:', blob.hex, 'sha256']) {
      for (const method of ['GET', 'HEAD', 'DELETE'] as const) {
        assertError(await registry.app.inject({ method, url: `/v2/${name}/blobs/${digest}` }), 400, 'DIGEST_INVALID', `${method} ${digest}`);
      }
    }
  });

  test('DELETE is 202, then the blob is BLOB_UNKNOWN in that repository only', async () => {
    const shared = makeBlob('shared between two repositories');
    await pushBlob(registry.app, 'blobs/one', shared);
    await pushBlob(registry.app, 'blobs/two', shared);
    const res = await registry.app.inject({ method: 'DELETE', url: `/v2/blobs/one/blobs/${shared.digest}` });
    assert.equal(res.statusCode, 202);
    assertApiVersion(res);
    assert.equal(res.headers['docker-content-digest'], shared.digest);
    assertError(await registry.app.inject({ method: 'GET', url: `/v2/blobs/one/blobs/${shared.digest}` }), 404, 'BLOB_UNKNOWN');
    assertError(await registry.app.inject({ method: 'HEAD', url: `/v2/blobs/one/blobs/${shared.digest}` }), 404, 'BLOB_UNKNOWN');
    const still = await registry.app.inject({ method: 'GET', url: `/v2/blobs/two/blobs/${shared.digest}` });
    assert.equal(still.statusCode, 200);
    assert.deepEqual(still.rawPayload, shared.content);
    // the content stays on disk for the other repository
    assert.equal((await stat(blobDataPath(registry.dataDir, shared.digest))).size, shared.size);
    // deleting again is BLOB_UNKNOWN
    assertError(await registry.app.inject({ method: 'DELETE', url: `/v2/blobs/one/blobs/${shared.digest}` }), 404, 'BLOB_UNKNOWN');
  });

  test('a deleted blob can be pushed again', async () => {
    const again = makeBlob('pushed, deleted, pushed');
    await pushBlob(registry.app, 'blobs/again', again);
    assert.equal((await registry.app.inject({ method: 'DELETE', url: `/v2/blobs/again/blobs/${again.digest}` })).statusCode, 202);
    await pushBlob(registry.app, 'blobs/again', again);
    assert.deepEqual((await registry.app.inject({ method: 'GET', url: `/v2/blobs/again/blobs/${again.digest}` })).rawPayload, again.content);
  });
});
