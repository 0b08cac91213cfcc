// The peer data plane's HTTP client (peer-http.ts) against real sockets: bodies come in write
// batches, connections are kept and reused, and every way a peer can misbehave ends in an error
// rather than a hang.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { chunksOf } from '../../src/distribute/coalesce.ts';
import { PeerClient, PeerRequestError } from '../../src/distribute/peer-client.ts';
import { PeerHttp, type PeerHttpInit } from '../../src/distribute/peer-http.ts';
import { parseDigest } from '../../src/oci/index.ts';
import { releaseBatch } from '../../src/store/write-batches.ts';

const KiB = 1024;
const INIT: PeerHttpInit = { connectTimeoutMs: 2_000, headersTimeoutMs: 2_000, bodyIdleMs: 2_000, eagerBytes: 128 * KiB, batchBytes: 512 * KiB };

async function listen(server: Server | HttpServer): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function chunks(body: Readable): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of chunksOf(body)) {
    out.push(Buffer.from(chunk));
    releaseBatch(chunk);
  }
  return out;
}

/** A server speaking raw bytes: `answer` gets each request's first bytes and its number on its connection and overall. */
function rawServer(answer: (socket: Socket, request: number, overall: number, data: Buffer) => void): { server: Server; connections: () => number } {
  let connections = 0;
  let overall = 0;
  const server = createNetServer((socket) => {
    connections++;
    let requests = 0;
    socket.on('data', (data: Buffer) => answer(socket, requests++, overall++, data));
    socket.on('error', () => undefined);
  });
  return { server, connections: () => connections };
}

describe('PeerHttp', () => {
  const closers: Array<() => void> = [];
  after(() => {
    for (const close of closers) close();
  });

  test('a body comes read by read up to the eager bytes, then in whole write batches', async () => {
    const blob = randomBytes(2 * 1024 * KiB + 100);
    const server = createHttpServer((_request, response) => {
      response.writeHead(206, { 'content-length': blob.length, 'content-range': `bytes 0-${blob.length - 1}/${blob.length}` });
      // Small writes, as a slow sender's socket delivers them.
      for (let at = 0; at < blob.length; at += 16 * KiB) response.write(blob.subarray(at, at + 16 * KiB));
      response.end();
    });
    const base = await listen(server);
    const http = new PeerHttp(INIT);
    closers.push(() => server.close(), () => http.close());
    const response = await http.get(new URL(`${base}/blobs/x`), { range: `bytes=0-${blob.length - 1}` });
    assert.equal(response.status, 206);
    const got = await chunks(response.body);
    assert.ok(Buffer.concat(got).equals(blob));
    let passed = 0;
    const batched = [];
    for (const chunk of got) {
      if (passed < INIT.eagerBytes) assert.ok(passed + chunk.length <= INIT.eagerBytes, 'eager chunks stop at the eager bytes');
      else batched.push(chunk.length);
      passed += chunk.length;
    }
    assert.deepEqual(batched, [512 * KiB, 512 * KiB, 512 * KiB, 512 * KiB - INIT.eagerBytes + 100]);
  });

  test('a connection is kept and reused for the next request, and replaced when the peer closed it meanwhile', async () => {
    const body = Buffer.from('0123456789');
    const reply = (socket: Socket): void => {
      socket.write(`HTTP/1.1 206 Partial Content\r\ncontent-length: ${body.length}\r\ncontent-range: bytes 0-9/10\r\n\r\n`);
      socket.write(body);
    };
    // Answers every request, and closes a connection idle for 100 ms (with no "Connection: close").
    const idle = new WeakMap<Socket, NodeJS.Timeout>();
    const { server, connections } = rawServer((socket) => {
      reply(socket);
      clearTimeout(idle.get(socket));
      idle.set(socket, setTimeout(() => socket.destroy(), 100));
    });
    const base = await listen(server);
    const http = new PeerHttp(INIT);
    closers.push(() => server.close(), () => http.close());
    const first = await http.get(new URL(`${base}/a`), {});
    assert.deepEqual(Buffer.concat(await chunks(first.body)), body);
    const second = await http.get(new URL(`${base}/a`), {});
    assert.deepEqual(Buffer.concat(await chunks(second.body)), body);
    assert.equal(connections(), 1, 'the second request went over the kept connection');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const third = await http.get(new URL(`${base}/a`), {});
    assert.deepEqual(Buffer.concat(await chunks(third.body)), body);
    assert.equal(connections(), 2, 'a closed connection is replaced');
  });

  test('a kept connection that fails before answering is retried once on a new one', async () => {
    // Answers the first request on each connection; drops a connection on its second, unanswered.
    const { server, connections } = rawServer((socket, request) => {
      if (request > 0) return void socket.destroy();
      socket.write('HTTP/1.1 206 Partial Content\r\ncontent-length: 2\r\n\r\nok');
    });
    const base = await listen(server);
    const http = new PeerHttp(INIT);
    closers.push(() => server.close(), () => http.close());
    for (let i = 0; i < 3; i++) {
      const response = await http.get(new URL(`${base}/a`), {});
      assert.equal(Buffer.concat(await chunks(response.body)).toString(), 'ok');
    }
    assert.equal(connections(), 3);
  });

  test('a peer that never answers, stalls mid-body or sends no Content-Length fails the request', async () => {
    const { server } = rawServer((socket, _request, _overall, data) => {
      const target = data.toString('latin1').split(' ')[1];
      if (target === '/silent') return;
      if (target === '/stall') return void socket.write('HTTP/1.1 206 Partial Content\r\ncontent-length: 100\r\n\r\nfirst bytes');
      socket.write('HTTP/1.1 206 Partial Content\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    });
    const base = await listen(server);
    const http = new PeerHttp({ ...INIT, headersTimeoutMs: 300, bodyIdleMs: 300 });
    closers.push(() => server.close(), () => http.close());
    await assert.rejects(http.get(new URL(`${base}/silent`), {}), /silent/);
    const stalled = await http.get(new URL(`${base}/stall`), {});
    await assert.rejects(chunks(stalled.body), /silent/);
    await assert.rejects(http.get(new URL(`${base}/chunked`), {}), /Content-Length/);
  });

  test('PeerClient refuses a 206 whose length is not the range asked for, and one with another range', async () => {
    const digest = parseDigest(`sha256:${'a'.repeat(64)}`);
    const { server } = rawServer((socket, _request, _overall, data) => {
      const long = data.toString('latin1').includes('bytes=0-9');
      socket.end(long
        ? 'HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 0-9/100\r\ncontent-length: 1000000\r\n\r\n0123456789'
        : 'HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 50-59/100\r\ncontent-length: 10\r\n\r\n0123456789');
    });
    const base = await listen(server);
    const client = new PeerClient({ timeoutMs: 2_000 });
    closers.push(() => server.close(), () => void client.close());
    await assert.rejects(client.fetchRange(base, digest, { start: 0, end: 9 }), (error: unknown) => error instanceof PeerRequestError && /answered 206 bytes 0-9\/100/.test(error.message));
    await assert.rejects(client.fetchRange(base, digest, { start: 10, end: 19 }), (error: unknown) => error instanceof PeerRequestError && /bytes 50-59/.test(error.message));
  });

  test('an abort mid-body fails the body and the connection is not reused', async () => {
    const { server, connections } = rawServer((socket, _request, overall) => {
      if (overall === 0) socket.write('HTTP/1.1 206 Partial Content\r\ncontent-length: 100\r\n\r\nsome');
      else socket.write('HTTP/1.1 206 Partial Content\r\ncontent-length: 2\r\n\r\nok');
    });
    const base = await listen(server);
    const http = new PeerHttp(INIT);
    closers.push(() => server.close(), () => http.close());
    const controller = new AbortController();
    const response = await http.get(new URL(`${base}/a`), {}, controller.signal);
    const read = chunks(response.body);
    controller.abort(new Error('stopped by the engine'));
    await assert.rejects(read, /stopped by the engine/);
    const next = await http.get(new URL(`${base}/a`), {});
    assert.deepEqual(Buffer.concat(await chunks(next.body)).toString(), 'ok');
    assert.equal(connections(), 2);
  });
});
