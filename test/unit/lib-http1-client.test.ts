// The HTTP/1.1 body client (lib/http1-client.ts, lib/http1-body.ts) on what a seed registry or the
// storage it redirects to may send and a shoal peer never does: chunked bodies split anywhere,
// bodies that end with the connection, bodyless answers, repeated headers. The peers' side is
// distribute-peer-http.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { PARTIAL_PUSH_MS, type BodyLink, type Framing } from '../../src/lib/http1-body-parts.ts';
import { Http1Body } from '../../src/lib/http1-body.ts';
import { Http1Client, type Http1ClientInit } from '../../src/lib/http1-client.ts';
import { batchHolds, freeBatches, releaseBatch, takeBatch } from '../../src/store/write-batches.ts';

const KiB = 1024;
const BATCHES = { eagerBytes: 8 * KiB, batchBytes: 32 * KiB, takeBatch: (size: number) => Buffer.alloc(size) };
const INIT: Http1ClientInit = { ...BATCHES, connectTimeoutMs: 2_000, headersTimeoutMs: 2_000, bodyIdleMs: 2_000, label: 'the test server' };

function chunked(data: Buffer, sizes: readonly number[]): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    // Sizes in either case, one with an extension: all allowed by RFC 9112.
    parts.push(Buffer.from(`${size.toString(16).toUpperCase()}${size % 2 ? ';ext=1' : ''}\r\n`), data.subarray(at, at + size), Buffer.from('\r\n'));
    at += size;
  }
  parts.push(Buffer.from('0\r\ntrailer: x\r\n\r\n'));
  return Buffer.concat(parts);
}

/** A body fed `parts` as separate socket reads; resolves with its bytes, or rejects with the abort. */
function feed(framing: Framing, parts: readonly Buffer[]): Promise<{ data: Buffer; chunks: number[]; reusable: boolean | undefined }> {
  return new Promise((resolve, reject) => {
    let reusable: boolean | undefined;
    const link: BodyLink = { resume: () => undefined, abort: (error) => body.destroy(error), finished: (again) => (reusable = again) };
    const body = new Http1Body(framing, BATCHES, link, 'the test server');
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    body.once('end', () => resolve({ data: Buffer.concat(chunks), chunks: chunks.map((c) => c.length), reusable }));
    body.once('error', reject);
    for (const part of parts) if (!body.destroyed) body.receive(part, 0, part.length);
    if (framing.kind === 'close' && !body.destroyed) body.connectionEnded();
  });
}

async function listen(handler: (socket: Socket, request: string) => void): Promise<{ url: string; close: () => void; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.on('data', (data) => handler(socket, data.toString('latin1')));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close(), connections: () => connections };
}

async function readAll(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

describe('HTTP/1.1 body client', () => {
  const closers: Array<() => void> = [];
  after(() => {
    for (const close of closers) close();
  });

  test('a chunked body is decoded whole wherever the socket reads split it', async () => {
    const data = randomBytes(3 * 1000 + 7);
    const wire = chunked(data, [1, 1000, 999, 1000, 7]);
    for (let split = 0; split <= wire.length; split += split < 40 ? 1 : 97) {
      const got = await feed({ kind: 'chunked' }, [wire.subarray(0, split), wire.subarray(split)]);
      assert.ok(got.data.equals(data), `split at ${split}`);
      assert.equal(got.reusable, true);
    }
    const bytewise = await feed({ kind: 'chunked' }, [...wire].map((byte) => Buffer.from([byte])));
    assert.ok(bytewise.data.equals(data));
  });

  test('a chunked body in write batches: eager bytes first, then whole batches', async () => {
    const data = randomBytes(100 * KiB);
    const got = await feed({ kind: 'chunked' }, [chunked(data, [40 * KiB, 60 * KiB])]);
    assert.ok(got.data.equals(data));
    assert.deepEqual(got.chunks, [8 * KiB, 32 * KiB, 32 * KiB, 28 * KiB]);
  });

  test('aligned batches end at multiples of the batch size from the body\'s first byte, eager bytes or not', async () => {
    const data = randomBytes(100 * KiB);
    const aligned = { kind: 'chunked' } as const;
    const got = await new Promise<number[]>((resolve, reject) => {
      const link: BodyLink = { resume: () => undefined, abort: reject, finished: () => undefined };
      const body = new Http1Body(aligned, { ...BATCHES, alignBatches: true }, link, 'the test server');
      const chunks: number[] = [];
      body.on('data', (chunk: Buffer) => chunks.push(chunk.length));
      body.once('end', () => resolve(chunks));
      const wire = chunked(data, [100 * KiB]);
      body.receive(wire, 0, wire.length);
    });
    assert.deepEqual(got, [8 * KiB, 24 * KiB, 32 * KiB, 32 * KiB, 4 * KiB]);
  });

  test('broken chunked framing fails the body instead of passing wrong bytes', async () => {
    await assert.rejects(feed({ kind: 'chunked' }, [Buffer.from('zz\r\nhello\r\n0\r\n\r\n')]), /bad chunk size line/);
    await assert.rejects(feed({ kind: 'chunked' }, [Buffer.from('3\r\nhello\r\n0\r\n\r\n')]), /chunk longer than its size line/);
    await assert.rejects(feed({ kind: 'chunked' }, [Buffer.from(`${'1'.repeat(5000)}`)]), /line over/);
  });

  test('a body framed by the connection ends with it, and the connection is not reused', async () => {
    const got = await feed({ kind: 'close' }, [Buffer.from('hello '), Buffer.from('world')]);
    assert.equal(got.data.toString(), 'hello world');
    assert.equal(got.reusable, false);
  });

  test('over a socket: chunked, connection-framed, bodyless and Content-Length answers, repeated headers as a list', async () => {
    const big = randomBytes(200 * KiB + 3);
    const server = await listen((socket, request) => {
      const target = request.split(' ')[1];
      if (target === '/chunked') socket.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nwww-authenticate: Bearer a\r\nwww-authenticate: Basic b\r\n\r\n${chunked(Buffer.from('chunked body'), [5, 7]).toString('latin1')}`, 'latin1');
      else if (target === '/close') socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end');
      else if (target === '/empty') socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      else {
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n`);
        socket.write(big);
      }
    });
    const client = new Http1Client(INIT);
    closers.push(server.close, () => client.close());
    const first = await client.get(new URL(`${server.url}/chunked`), {});
    assert.deepEqual(first.fields['www-authenticate'], ['Bearer a', 'Basic b']);
    assert.equal(first.headers.get('www-authenticate'), 'Bearer a, Basic b');
    assert.equal((await readAll(first.body)).toString(), 'chunked body');
    const empty = await client.get(new URL(`${server.url}/empty`), {});
    assert.equal(empty.status, 204);
    assert.equal((await readAll(empty.body)).length, 0);
    const whole = await client.get(new URL(`${server.url}/big`), {});
    assert.ok((await readAll(whole.body)).equals(big));
    assert.equal(server.connections(), 1, 'chunked, bodyless and sized answers leave the connection reusable');
    const closing = await client.get(new URL(`${server.url}/close`), {});
    assert.equal((await readAll(closing.body)).toString(), 'until the end');
    const again = await client.get(new URL(`${server.url}/empty`), {});
    assert.equal(again.status, 204);
    assert.equal(server.connections(), 2, 'a connection-framed body ends the connection');
  });

  test('a connection kept after a body whose last read found its reader behind answers the next request', async () => {
    // The eager bytes first, read by the reader (which starts the socket reading again); then, in
    // a read of its own, the batch that ends the body, while the reader is behind.
    const body = randomBytes(BATCHES.eagerBytes + BATCHES.batchBytes);
    const server = await listen((socket, request) => {
      if (request.startsWith('GET /empty')) return void socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`), body.subarray(0, BATCHES.eagerBytes)]));
      setTimeout(() => socket.write(body.subarray(BATCHES.eagerBytes)), 100);
    });
    const client = new Http1Client({ ...INIT, headersTimeoutMs: 1_000 });
    closers.push(server.close, () => client.close());
    const first = await client.get(new URL(`${server.url}/body`), {});
    const chunks = first.body[Symbol.asyncIterator]();
    assert.equal(((await chunks.next()).value as Buffer).length, BATCHES.eagerBytes);
    for (let waited = 0; !first.body.done; waited += 10) {
      assert.ok(waited < 5_000, 'the rest of the body arrives unread');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Its reader takes no more (a piece transfer that has its range): nothing starts the socket for it.
    await chunks.return?.();
    const next = await client.get(new URL(`${server.url}/empty`), {});
    assert.equal(next.status, 204);
    assert.equal(server.connections(), 1, 'the kept connection answered, not a new one after a timeout');
  });

  test('a body longer than its Content-Length, a bad Content-Length and a head with no status line fail', async () => {
    const server = await listen((socket, request) => {
      const target = request.split(' ')[1];
      if (target === '/long') socket.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nfour');
      else if (target === '/bad') socket.write('HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n');
      else socket.write('SPDY/3 200\r\n\r\n');
    });
    const client = new Http1Client(INIT);
    closers.push(server.close, () => client.close());
    const long = await client.get(new URL(`${server.url}/long`), {});
    await assert.rejects(readAll(long.body), /sent more than the 3 bytes it announced/);
    await assert.rejects(client.get(new URL(`${server.url}/bad`), {}), /Content-Length "-1"/);
    await assert.rejects(client.get(new URL(`${server.url}/odd`), {}), (error: Error & { code?: string }) => /no HTTP status line/.test(error.message) && error.code === 'UND_ERR_INVALID_RESPONSE');
  });

  test('a header value with a line break is refused before anything is sent', async () => {
    let requests = 0;
    const server = await listen(() => requests++);
    const client = new Http1Client(INIT);
    closers.push(server.close, () => client.close());
    await assert.rejects(client.get(new URL(`${server.url}/a`), { authorization: 'Bearer x\r\nx-injected: 1' }), /line break/);
    assert.equal(server.connections() + requests, 0);
  });

  test('a stall of this process is not the server\'s silence: connect and head timeouts run on the steady clock', async () => {
    const server = await listen((socket) => socket.write('HTTP/1.1 204 No Content\r\n\r\n'));
    const client = new Http1Client({ ...INIT, connectTimeoutMs: 1_000, headersTimeoutMs: 1_000 });
    closers.push(server.close, () => client.close());
    const answer = client.get(new URL(`${server.url}/stalled`), {});
    // The connect, the request and the answer all wait on this loop: by the wall clock both
    // timeouts ran out before any of it was read.
    const until = performance.now() + 1_500;
    while (performance.now() < until);
    assert.equal((await answer).status, 204);
  });

  test('a kept connection whose server goes silent is not retried on a new one: the headers timeout is the answer', async () => {
    // First request answered and the connection kept; the second, sent on it, gets nothing (a host
    // unplugged from the LAN). A new connection would be accepted and answered.
    let requests = 0;
    const server = await listen((socket) => {
      requests++;
      if (requests === 1 || server.connections() > 1) socket.write('HTTP/1.1 204 No Content\r\n\r\n');
    });
    const client = new Http1Client({ ...INIT, headersTimeoutMs: 300 });
    closers.push(server.close, () => client.close());
    assert.equal((await client.get(new URL(`${server.url}/first`), {})).status, 204);
    await assert.rejects(client.get(new URL(`${server.url}/second`), {}), (error: Error & { code?: string }) => error.code === 'UND_ERR_HEADERS_TIMEOUT');
    assert.equal(server.connections(), 1, 'no second connection: the silence was not taken for a closed idle connection');
  });

  test('a request on a kept connection the server closes without answering is sent once more on a new one', async () => {
    // The first connection answers its first request and closes at the second (as a server whose
    // keep-alive timeout ran out as the request arrived); a new connection answers.
    let requestsOnFirst = 0;
    const server = await listen((socket) => {
      const first = server.connections() === 1;
      if (first && requestsOnFirst++ > 0) return void socket.destroy();
      socket.write('HTTP/1.1 204 No Content\r\n\r\n');
    });
    const client = new Http1Client(INIT);
    closers.push(server.close, () => client.close());
    assert.equal((await client.get(new URL(`${server.url}/first`), {})).status, 204);
    assert.equal((await client.get(new URL(`${server.url}/second`), {})).status, 204, 'answered on the retry');
    assert.equal(server.connections(), 2, 'the kept connection was reused, then a new one opened for the retry');
  });

  test('bytes that wait in a batch being filled are passed on after a second, as a view the batch fills on behind', async () => {
    // The store's own batches and holds, of a size no other test takes.
    const batchBytes = 40 * KiB + 256;
    const held = { eagerBytes: 8 * KiB, batchBytes, takeBatch, holds: batchHolds };
    const data = randomBytes(8 * KiB + 2 * batchBytes);
    const waiting = 12 * KiB;
    let sendRest: () => void = () => undefined;
    const server = await listen((socket) => {
      socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${data.length}\r\n\r\n`), data.subarray(0, 8 * KiB + waiting)]));
      sendRest = () => socket.write(data.subarray(8 * KiB + waiting));
    });
    const client = new Http1Client({ ...INIT, ...held, bodyIdleMs: 30_000 });
    closers.push(server.close, () => client.close());
    const response = await client.get(new URL(`${server.url}/slow`), {});
    const chunks: Buffer[] = [];
    const started = performance.now();
    let partialAfter = 0;
    for await (const chunk of response.body) {
      const view = chunk as Buffer;
      chunks.push(Buffer.from(view));
      releaseBatch(view);
      if (chunks.length === 2) {
        partialAfter = performance.now() - started;
        assert.equal(view.length, waiting, 'the bytes that waited, before the server sent more');
        assert.equal(freeBatches(batchBytes), 0, 'the batch being filled is not free while the body fills it');
        sendRest();
      }
    }
    assert.ok(partialAfter >= PARTIAL_PUSH_MS * 0.9, `passed on after ${Math.round(partialAfter)} ms`);
    assert.deepEqual(chunks.map((c) => c.length), [8 * KiB, waiting, batchBytes - waiting, batchBytes]);
    assert.ok(Buffer.concat(chunks).equals(data), 'every byte as sent, none twice');
    assert.equal(freeBatches(batchBytes), 2, 'both batches free again once every view was given back');
  });

  test('a connection-framed body whose bytes all went on in parts gives its batch back at the end', async () => {
    const batchBytes = 40 * KiB + 512;
    const data = randomBytes(3 * KiB);
    let finish: () => void = () => undefined;
    const server = await listen((socket) => {
      socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n'), data]));
      finish = () => socket.end();
    });
    const client = new Http1Client({ ...INIT, eagerBytes: 0, batchBytes, takeBatch, holds: batchHolds, bodyIdleMs: 30_000 });
    closers.push(server.close, () => client.close());
    const response = await client.get(new URL(`${server.url}/close`), {});
    const chunks: Buffer[] = [];
    for await (const chunk of response.body) {
      chunks.push(Buffer.from(chunk as Buffer));
      releaseBatch(chunk as Buffer);
      finish();
    }
    assert.ok(Buffer.concat(chunks).equals(data));
    assert.equal(freeBatches(batchBytes), 1, 'the batch is free again: its last hold went back at the end');
  });

  test('a server that never answers still times out', async () => {
    const server = await listen(() => undefined);
    const client = new Http1Client({ ...INIT, headersTimeoutMs: 300 });
    closers.push(server.close, () => client.close());
    const started = performance.now();
    await assert.rejects(client.get(new URL(`${server.url}/silent`), {}), (error: Error & { code?: string }) => error.code === 'UND_ERR_HEADERS_TIMEOUT' && /went silent for 300 ms/.test(error.message));
    assert.ok(performance.now() - started < 5_000);
  });
});
