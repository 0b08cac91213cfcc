// paceWatched: a sender under the floor is cut off, one that sends nothing is cut off without
// waiting for its next byte, and a sender at pace, or a consumer slow on its own, is not.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { paceWatched, type PaceFloor } from '../../src/lib/pace-watch.ts';

class TooSlow extends Error {}
const pace: PaceFloor = { floorBytesPerSecond: 10_000, windowMs: 400, tooSlow: (bytes, ms) => new TooSlow(`${bytes} bytes in ${ms} ms`) };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function* sender(chunkBytes: number, everyMs: number, count: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < count; i++) {
    await sleep(everyMs);
    yield Buffer.alloc(chunkBytes);
  }
}

/** A sender that waits until `stop` is called (as a socket does when destroyed). */
function silent(): { chunks: AsyncIterable<Buffer>; stop: (error: Error) => void } {
  let fail: (error: Error) => void = () => undefined;
  const pending = new Promise<never>((_, reject) => (fail = reject));
  pending.catch(() => undefined);
  return { chunks: { [Symbol.asyncIterator]: () => ({ next: () => pending }) }, stop: (error) => fail(error) };
}

async function drain(chunks: AsyncIterable<Buffer>, consumerMs = 0): Promise<number> {
  let bytes = 0;
  for await (const chunk of chunks) {
    bytes += chunk.byteLength;
    if (consumerMs > 0) await sleep(consumerMs);
  }
  return bytes;
}

describe('lib: paceWatched', () => {
  test('a sender at pace passes, over several windows', async () => {
    assert.equal(await drain(paceWatched(sender(1_000, 20, 60), pace, () => undefined)), 60_000);
  });

  test('a sender under the floor is cut off after a window', async () => {
    const started = Date.now();
    await assert.rejects(drain(paceWatched(sender(100, 50, 100), pace, () => undefined)), TooSlow);
    assert.ok(Date.now() - started < 2_000);
  });

  test('a sender that sends nothing is aborted when the window is over, without its next byte', async () => {
    const { chunks, stop } = silent();
    const started = Date.now();
    await assert.rejects(drain(paceWatched(chunks, pace, stop)), TooSlow);
    const ms = Date.now() - started;
    assert.ok(ms >= 350 && ms < 2_000, `${ms} ms`);
  });

  test('a burst then silence is aborted by the next window, not left waiting for a next byte', async () => {
    let fail: (error: Error) => void = () => undefined;
    const pending = new Promise<never>((_, reject) => (fail = reject));
    pending.catch(() => undefined);
    let sent = false;
    const burst: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: () => (sent ? pending : ((sent = true), Promise.resolve({ done: false, value: Buffer.alloc(100_000) }))) }) };
    const started = Date.now();
    await assert.rejects(drain(paceWatched(burst, pace, (error) => fail(error))), TooSlow);
    const ms = Date.now() - started;
    assert.ok(ms >= 350 && ms < 2_000, `${ms} ms: within two windows of 400 ms`);
  });

  test('a consumer slow on its own does not count against its sender', async () => {
    // The sender has the next chunk at once; the consumer takes 100 ms per chunk: 10 chunks of 100 bytes in a second.
    async function* ready(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 10; i++) yield Buffer.alloc(100);
    }
    assert.equal(await drain(paceWatched(ready(), pace, () => undefined), 100), 1_000);
  });
});

describe('http: a request body under the upload floor', () => {
  test('is cut off: the route sees BLOB_UPLOAD_INVALID and the connection closes, without waiting for the sender', async () => {
    const { createServer } = await import('node:http');
    const { connect } = await import('node:net');
    const { requestBody, UPLOAD_PACE } = await import('../../src/http/body.ts');
    assert.equal(UPLOAD_PACE.windowMs, 60_000, 'the daemon\'s floor: 1 KiB/s over a minute');
    const errors: unknown[] = [];
    const server = createServer((request, response) => {
      void (async () => {
        try {
          for await (const chunk of requestBody(request, { ...UPLOAD_PACE, windowMs: 500 })) void chunk;
          response.end('done');
        } catch (error) {
          errors.push(error);
        }
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const socket = connect(port, '127.0.0.1');
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.on('error', () => undefined);
      socket.write('PATCH /v2/a/b/blobs/uploads/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000\r\n\r\n0123456789');
      const started = Date.now();
      await closed;
      assert.ok(Date.now() - started < 5_000);
      assert.equal(errors.length, 1);
      assert.equal((errors[0] as { code?: string }).code, 'BLOB_UPLOAD_INVALID');
    } finally {
      server.close();
    }
  });
});
