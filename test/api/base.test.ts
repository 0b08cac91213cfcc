import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { API_VERSION, assertError, makeBlob, pushImage, rawRequest } from '../helpers/oci-fixtures.ts';

describe('/v2/ base endpoint', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await createTestRegistry();
  });
  after(() => registry.close());

  test('GET /v2/ answers 200 {} with the API version header', async () => {
    for (const url of ['/v2/', '/v2']) {
      const res = await registry.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.headers['docker-distribution-api-version'], API_VERSION);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.deepEqual(res.json(), {});
    }
  });

  test('HEAD /v2/ answers 200 with no body', async () => {
    const res = await registry.app.inject({ method: 'HEAD', url: '/v2/' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['docker-distribution-api-version'], API_VERSION);
    assert.equal(res.body, '');
  });

  test('unknown endpoints under /v2 answer 404 with a JSON error body', async () => {
    for (const url of ['/v2/foo', '/v2/foo/bar', '/v2/foo/tags', '/v2/foo/tags/list/extra', '/v2/foo/manifests', '/v2/foo/manifests/', '/v2/foo/blobs/', '/v2/_catalog/x', '/v2/foo/referrers/']) {
      const res = await registry.app.inject({ method: 'GET', url });
      assertError(res, 404, 'UNSUPPORTED', url);
    }
  });

  test('paths outside /v2 answer 404 with a JSON error body', async () => {
    for (const url of ['/', '/v1/', '/v3/foo/tags/list', '/favicon.ico']) {
      const res = await registry.app.inject({ method: 'GET', url });
      assertError(res, 404, 'UNSUPPORTED', url);
    }
  });

  test('a method an endpoint does not answer is 405 UNSUPPORTED with Allow', async () => {
    const digest = makeBlob('x').digest;
    const cases: Array<[string, string, string[]]> = [
      ['POST', '/v2/', ['GET', 'HEAD']],
      ['DELETE', '/v2/', ['GET', 'HEAD']],
      ['PUT', '/v2/_catalog', ['GET']],
      ['DELETE', '/v2/foo/tags/list', ['GET']],
      ['POST', '/v2/foo/manifests/latest', ['GET', 'HEAD', 'PUT', 'DELETE']],
      ['PATCH', '/v2/foo/manifests/latest', ['GET', 'HEAD', 'PUT', 'DELETE']],
      ['PUT', `/v2/foo/blobs/${digest}`, ['GET', 'HEAD', 'DELETE']],
      ['POST', `/v2/foo/blobs/${digest}`, ['GET', 'HEAD', 'DELETE']],
      ['GET', '/v2/foo/blobs/uploads/', ['POST']],
      ['PUT', '/v2/foo/blobs/uploads/', ['POST']],
      ['POST', '/v2/foo/blobs/uploads/0b0e7a3c-8b4e-4c5e-9d7e-3e7a1c1f2b3a', ['GET', 'PATCH', 'PUT', 'DELETE']],
      ['DELETE', `/v2/foo/referrers/${digest}`, ['GET']],
    ];
    for (const [method, url, allowed] of cases) {
      const res = await registry.app.inject({ method: method as 'GET', url });
      assertError(res, 405, 'UNSUPPORTED', `${method} ${url}`);
      assert.deepEqual(String(res.headers.allow).split(', ').sort(), [...allowed].sort(), `${method} ${url}`);
    }
  });

  test('methods fastify does not route (OPTIONS, TRACE, PROPFIND) are 405 on endpoints, 404 elsewhere', async () => {
    for (const method of ['OPTIONS', 'TRACE']) {
      const res = await registry.app.inject({ method: method as 'GET', url: '/v2/foo/manifests/latest' });
      assertError(res, 405, 'UNSUPPORTED', method);
      assert.equal(res.headers.allow, 'GET, HEAD, PUT, DELETE');
      assertError(await registry.app.inject({ method: method as 'GET', url: '/nowhere' }), 404, 'UNSUPPORTED', method);
    }
    await registry.app.listen({ host: '127.0.0.1', port: 0 });
    const res = await rawRequest(registry.app, 'PROPFIND', '/v2/');
    assert.equal(res.statusCode, 405);
    assert.equal(res.headers.allow, 'GET, HEAD');
    assert.equal(res.headers['docker-distribution-api-version'], API_VERSION);
    assert.deepEqual(JSON.parse(res.body).errors.map((e: { code: string }) => e.code), ['UNSUPPORTED']);
  });

  test('HEAD on an endpoint without HEAD is 405 with no body', async () => {
    const res = await registry.app.inject({ method: 'HEAD', url: '/v2/_catalog' });
    assertError(res, 405, 'UNSUPPORTED');
    assert.equal(res.headers['content-length'], '0');
  });

  test('every answer, success or error, carries the API version header', async () => {
    await pushImage(registry.app, 'base/check', 'v1');
    for (const url of ['/v2/_catalog', '/v2/base/check/tags/list', '/v2/base/check/manifests/v1', '/v2/base/check/manifests/nope', '/v2/Bad/tags/list']) {
      const res = await registry.app.inject({ method: 'GET', url });
      assert.equal(res.headers['docker-distribution-api-version'], API_VERSION, url);
      assert.ok(res.statusCode < 500, `${url}: ${res.statusCode}`);
    }
  });
});
