// Web pages cannot drive a node: no cross-site write (browsers send Origin with every request that
// is not a GET or HEAD; registry clients never do), and no read of the operator pages through a
// DNS name rebound to 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createRegistryServices } from '../../src/daemon/services.ts';
import { buildRegistryApp } from '../../src/http/app.ts';
import { Store } from '../../src/store/index.ts';
import { NO_UPSTREAMS } from '../helpers/registry-app.ts';
import { assertError, imageManifest, makeBlob, pushBlob, pushImage, putManifest } from '../helpers/oci-fixtures.ts';

describe('requests from web pages', () => {
  let dir: string;
  let app: FastifyInstance;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-browser-guard-'));
    const { store } = await Store.open(dir);
    const services = createRegistryServices({ store, router: NO_UPSTREAMS, logger: pino({ level: 'silent' }), tagTimeoutMs: 1000, maxUploadBytes: 0 });
    const preheat = { start: async () => { throw new Error('not in this test'); }, job: () => undefined, jobs: () => [] };
    app = buildRegistryApp({ ...services, status: async () => ({ ok: true }), preheat });
    await app.ready();
    await pushImage(app, 'web/app', '1');
  });
  after(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a write carrying Origin is 403 DENIED and changes nothing: upload, manifest PUT, DELETE, preheat', async () => {
    for (const origin of ['http://evil.example', 'null', 'http://localhost:5000']) {
      assertError(await app.inject({ method: 'POST', url: '/v2/web/app/blobs/uploads/', headers: { origin, 'content-type': 'text/plain' }, payload: 'x' }), 403, 'DENIED', origin);
      assertError(await app.inject({ method: 'DELETE', url: '/v2/web/app/manifests/1', headers: { origin } }), 403, 'DENIED', origin);
      const manifest = imageManifest({ config: makeBlob('{}'), layers: [] });
      assertError(await app.inject({ method: 'PUT', url: '/v2/web/app/manifests/2', headers: { origin, 'content-type': manifest.mediaType }, payload: manifest.body }), 403, 'DENIED', origin);
      assertError(await app.inject({ method: 'POST', url: '/_shoal/preheat', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'images=web/app:1' }), 403, 'DENIED', origin);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/v2/web/app/manifests/1', headers: { accept: '*/*' } })).statusCode, 200, 'the tag survived');
    assert.equal((await app.inject({ method: 'GET', url: '/v2/web/app/manifests/2' })).statusCode, 404);
  });

  test('registry clients (no Origin) write as before; reads with Origin are answered', async () => {
    const config = makeBlob('{"os":"linux"}');
    await pushBlob(app, 'web/other', config);
    assert.equal((await putManifest(app, 'web/other', 'v1', imageManifest({ config, layers: [] }))).statusCode, 201);
    assert.equal((await app.inject({ method: 'GET', url: '/v2/web/other/manifests/v1', headers: { origin: 'http://evil.example', accept: '*/*' } })).statusCode, 200);
  });

  test('the operator pages answer to localhost, an IP address and this machine\'s name, not to a rebound DNS name', async () => {
    for (const host of ['localhost:5000', '127.0.0.1:5000', '[::1]:5000', '192.168.64.150:5000', `${hostname()}:5000`, 'app.localhost']) {
      assert.equal((await app.inject({ method: 'GET', url: '/_shoal/status', headers: { host } })).statusCode, 200, host);
    }
    // Percent-encoded and absolute-form targets reach the same routes, and are judged by them.
    for (const url of ['/_shoal/status', '/_shoal/', '/_shoal/preheat', '/%5Fshoal/status', '/%5fshoal/', '/%5F%73%68%6F%61%6C/status', '/_shoal/./status', 'http://rebind.evil.example/_shoal/status']) {
      assertError(await app.inject({ method: 'GET', url, headers: { host: 'rebind.evil.example:5000' } }), 403, 'DENIED', url);
      assertError(await app.inject({ method: 'GET', url, remoteAddress: '192.168.64.20' }), 403, 'DENIED', `${url} from another host`);
    }
    // The registry API itself is reached by any name the operator gave the host.
    assert.equal((await app.inject({ method: 'GET', url: '/v2/', headers: { host: 'registry.corp.example:5000' } })).statusCode, 200);
  });

  test('the operator pages and the preheat API answer clients on the node itself only, reads too; the token endpoint answers any host and name', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/_shoal/preheat' })).statusCode, 200);
    for (const url of ['/_shoal/preheat', '/_shoal/preheat/some-id']) {
      assertError(await app.inject({ method: 'GET', url, remoteAddress: '192.168.64.20' }), 403, 'DENIED', url);
    }
    assertError(await app.inject({ method: 'POST', url: '/_shoal/preheat', remoteAddress: '192.168.64.20', headers: { 'content-type': 'application/json' }, payload: '{}' }), 403, 'DENIED');
    assertError(await app.inject({ method: 'GET', url: '/_shoal/status', remoteAddress: '192.168.64.20' }), 403, 'DENIED', 'the status of the whole node, to another host');
    assertError(await app.inject({ method: 'GET', url: '/_shoal/', remoteAddress: '192.168.64.20' }), 403, 'DENIED', 'the status page, to another host');
    // docker follows the token realm by the name it reached the node by (auth.ts builds it from Host).
    const token = await app.inject({ method: 'GET', url: '/_shoal/token?service=shoal', headers: { host: 'sjq-20.corp.example:5000' }, remoteAddress: '192.168.64.20' });
    assert.notEqual(token.statusCode, 403, token.body);
  });

  test('a request target in absolute form is routed by its path and judged by its host (RFC 9112 §3.2.2)', async () => {
    const { connect } = await import('node:net');
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const raw = (request: string): Promise<string> => new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(request));
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });
    assert.match(await raw('GET http://registry.example/v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
    assert.match(await raw('GET http://registry.example/v2/web/app/manifests/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
    // Its host wins over the Host header: a name that is not this machine's is refused the operator pages.
    assert.match(await raw('GET http://rebind.evil.example/_shoal/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 403 /);
    assert.match(await raw('GET http://127.0.0.1/_shoal/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
  });
});
