// sendArriving hands the response its next chunk while one is still being written: one at a time,
// the socket waited for the event loop and the reader between chunks. Two, never more (the
// download budget counts two chunks per response). Every byte arrives, in order.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendArriving } from '../../src/http/send-stream.ts';

/** Larger than loopback's socket buffers on both ends: its write cannot call back while the client reads nothing. */
const CHUNK = 32 * 1024 * 1024;

test('two chunks are handed to the response while the client reads nothing, and every byte arrives', async (t) => {
  const chunks = [randomBytes(CHUNK), randomBytes(CHUNK), randomBytes(CHUNK), randomBytes(1024)];
  let taken = 0;
  const source = new Readable({
    highWaterMark: 0,
    // As a partial blob's reader does: the chunk comes after a read from memory or the file.
    read() {
      setImmediate(() => this.push(taken < chunks.length ? chunks[taken++] : null));
    },
  });
  const server: Server = createServer((_request, response) => {
    void sendArriving(response, source, () => response.writeHead(200, { 'content-length': String(chunks.reduce((n, c) => n + c.length, 0)) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.pause();
  socket.write('GET /blob HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n');
  await sleep(500);
  assert.equal(taken, 2, 'the second chunk is written while the first is still in the socket, and no third');
  const received: Buffer[] = [];
  socket.on('data', (data: Buffer) => received.push(data));
  socket.resume();
  await new Promise((resolve) => socket.once('end', resolve));
  const body = Buffer.concat(received);
  const bodyStart = body.indexOf('\r\n\r\n') + 4;
  assert.ok(body.subarray(bodyStart).equals(Buffer.concat(chunks)), 'every byte, in order');
});
