// A chunk whose body is not as long as its Content-Range says is refused (416) and leaves nothing
// written: a client that takes a 4xx for "nothing written" and resends from its own offset goes on
// cleanly. Before (audit F6) the 416 came after the bytes were appended, so the resent chunk got
// 416 again and a PUT that finished the upload got DIGEST_INVALID. Over real sockets: Content-Length
// is checked before the body is read; a chunked body (no Content-Length) is cut back after.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { makeBlob, rawRequest, type RawResponse } from '../helpers/oci-fixtures.ts';

describe('a chunk whose length disagrees with its Content-Range', () => {
  let registry: TestRegistry;
  const name = 'up/length';
  before(async () => {
    registry = await createTestRegistry();
    await registry.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => registry?.close());

  const start = async (): Promise<string> => {
    const res = await rawRequest(registry.app, 'POST', `/v2/${name}/blobs/uploads/`);
    assert.equal(res.statusCode, 202, res.body);
    return String(res.headers.location);
  };
  const send = (method: 'PATCH' | 'PUT', url: string, body: string, range: string, chunked = false): Promise<RawResponse> =>
    rawRequest(registry.app, method, url, Buffer.from(body), { 'content-type': 'application/octet-stream', 'content-range': range, ...(chunked ? { 'transfer-encoding': 'chunked' } : {}) });
  const rangeNow = async (location: string): Promise<string | string[] | undefined> => (await rawRequest(registry.app, 'GET', location)).headers.range;
  const blob = makeBlob('helloworld');

  for (const chunked of [false, true]) {
    test(`PATCH (${chunked ? 'chunked, no Content-Length' : 'with Content-Length'}): 416, nothing appended; the chunk resent rightly continues`, async () => {
      const location = await start();
      assert.equal((await send('PATCH', location, 'hello', '0-4', chunked)).statusCode, 202);
      for (const range of ['5-100', '5-6']) {
        const refused = await send('PATCH', location, 'world', range, chunked);
        assert.equal(refused.statusCode, 416, refused.body);
        assert.equal(refused.headers.range, '0-4', `${range}: the Range says nothing was kept`);
        assert.equal(await rangeNow(location), '0-4', range);
      }
      assert.equal((await send('PATCH', location, 'world', '5-9', chunked)).statusCode, 202);
      const done = await rawRequest(registry.app, 'PUT', `${location}?digest=${blob.digest}`);
      assert.equal(done.statusCode, 201, done.body);
    });

    test(`the last chunk on the PUT (${chunked ? 'chunked' : 'with Content-Length'}): 416, nothing appended, the upload kept and finished after`, async () => {
      const location = await start();
      assert.equal((await send('PATCH', location, 'hello', '0-4', chunked)).statusCode, 202);
      const refused = await send('PUT', `${location}?digest=${blob.digest}`, 'wor', '5-9', chunked);
      assert.equal(refused.statusCode, 416, refused.body);
      assert.equal(await rangeNow(location), '0-4');
      const done = await send('PUT', `${location}?digest=${blob.digest}`, 'world', '5-9', chunked);
      assert.equal(done.statusCode, 201, done.body);
    });
  }
});
