// Issue 10, item 13: a client that goes away mid-request is ordinary; it is logged at info, with
// no stack trace, never as an error.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createRegistryServices } from '../../src/daemon/services.ts';
import { buildRegistryApp } from '../../src/http/app.ts';
import { Store } from '../../src/store/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { makeBlob, pushBlob } from '../helpers/oci-fixtures.ts';
import { NO_UPSTREAMS } from '../helpers/registry-app.ts';

describe('item 13: client disconnects', () => {
  const lines: Array<Record<string, unknown>> = [];
  let dir: string;
  let app: FastifyInstance;
  let port: number;
  const big = makeBlob(Buffer.alloc(8 * 1024 * 1024, 7));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-disconnect-'));
    const { store } = await Store.open(dir);
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    app = buildRegistryApp(createRegistryServices({ store, router: NO_UPSTREAMS, logger, tagTimeoutMs: 1000, maxUploadBytes: 0 }));
    await app.ready();
    await pushBlob(app, 'cut/app', big);
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  after(async () => {
    await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Sends a request head and part of its body, then drops the connection. */
  async function cutOff(head: string, bodyBytes: number): Promise<void> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(head);
    socket.write(Buffer.alloc(bodyBytes, 1));
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.destroy();
  }

  async function location(): Promise<string> {
    const started = await app.inject({ method: 'POST', url: '/v2/cut/app/blobs/uploads/' });
    assert.equal(started.statusCode, 202);
    return String(started.headers.location);
  }

  test('item 13: a client that disconnects mid-upload or mid-download is logged at info without a stack trace', async () => {
    const before = lines.length;
    const patch = await location();
    await cutOff(`PATCH ${patch} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: 1000000\r\n\r\n`, 1000);
    const put = await location();
    await cutOff(`PUT ${put}${put.includes('?') ? '&' : '?'}digest=${big.digest} HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n`, 1000);
    await cutOff('PUT /v2/cut/app/manifests/v1 HTTP/1.1\r\nhost: x\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\ncontent-length: 5000\r\n\r\n', 100);
    // A download dropped after its first bytes.
    const socket = connect(port, '127.0.0.1');
    socket.write(`GET /v2/cut/app/blobs/${big.digest} HTTP/1.1\r\nhost: x\r\n\r\n`);
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.destroy();

    await eventually(() => lines.slice(before).filter((l) => l.msg === 'client went away').length >= 3, 10_000, 'the disconnects logged');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const logged = lines.slice(before);
    const loud = logged.filter((l) => Number(l.level) >= 40);
    assert.deepEqual(loud, [], 'nothing at warn or error');
    for (const line of logged) assert.ok(!JSON.stringify(line).includes('"stack"'), `no stack trace: ${JSON.stringify(line).slice(0, 300)}`);
    assert.ok(logged.filter((l) => l.msg === 'client went away').every((l) => l.level === 30), 'at info');
    // And the node still serves.
    assert.equal((await fetch(`http://127.0.0.1:${port}/v2/cut/app/blobs/${big.digest}`, { method: 'HEAD' })).status, 200);
  });
});
