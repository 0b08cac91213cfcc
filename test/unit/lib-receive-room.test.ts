// The receive room (lib/receive-room.ts): bodies being received stop taking batches once the room
// is full and go on as batches come back, so the batches all transfers hold stay near the cap
// however many transfers run; a body never waits for good.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Http1Client } from '../../src/lib/http1-client.ts';
import { ReceiveRoom } from '../../src/lib/receive-room.ts';

const KiB = 1024;

describe('receive room', () => {
  test('lets a body go at once while it has room, else oldest first as batches come back', async () => {
    const room = new ReceiveRoom(1024 * KiB, 60_000);
    const order: string[] = [];
    room.whenFree(() => order.push('free'));
    await sleep(0);
    assert.deepEqual(order, ['free']);
    room.add(1024 * KiB);
    assert.equal(room.free(), false);
    room.whenFree(() => order.push('a'));
    room.whenFree(() => order.push('b'));
    await sleep(10);
    assert.deepEqual(order, ['free'], 'nobody goes on while the room is full');
    room.remove(512 * KiB);
    assert.deepEqual(order, ['free', 'a'], 'one batch back lets one body go');
    room.remove(512 * KiB);
    assert.deepEqual(order, ['free', 'a', 'b']);
    assert.equal(room.waiting, 0);
  });

  test('a body that waited the longest wait goes on whatever the count (a batch dropped without a release)', async () => {
    const room = new ReceiveRoom(512 * KiB, 50);
    room.add(512 * KiB);
    let went = false;
    room.whenFree(() => (went = true));
    await sleep(20);
    assert.equal(went, false);
    await sleep(80);
    assert.equal(went, true);
  });

  describe('through the body client', () => {
    let server: Server;
    let url: string;
    const data = randomBytes(4 * 1024 * KiB);

    test('a body whose batches are held stops at the cap, and reads on once they come back', async () => {
      server = createServer((socket) => {
        socket.once('data', () => {
          socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${data.length}\r\n\r\n`);
          socket.end(data);
        });
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const batchBytes = 64 * KiB;
      const room = new ReceiveRoom(4 * batchBytes, 60_000);
      const held = new Set<Buffer>();
      const takeBatch = (size: number): Buffer => {
        room.add(size);
        const batch = Buffer.alloc(size);
        held.add(batch);
        return batch;
      };
      const give = (batch: Buffer): void => {
        if (held.delete(batch)) room.remove(batch.byteLength);
      };
      const client = new Http1Client({ eagerBytes: 0, batchBytes, takeBatch, room, connectTimeoutMs: 2_000, headersTimeoutMs: 2_000, bodyIdleMs: 5_000, label: 'the test server' });
      after(() => {
        client.close();
        server.close();
      });
      const response = await client.get(new URL(`${url}/blob`), {});
      const received: Buffer[] = [];
      let landing = false;
      // A reader that keeps every batch at first (a transfer whose writes do not land): the body
      // takes at most the room's worth, however far the socket could read.
      response.body.on('data', (chunk: Buffer) => {
        received.push(Buffer.from(chunk));
        if (landing) give(chunk);
      });
      await sleep(300);
      const takenWhileHeld = held.size;
      assert.ok(takenWhileHeld <= 4 + 1, `the body took ${takenWhileHeld} batches of the 4 the room has`);
      assert.ok(received.length < data.length / batchBytes);
      // The writes land: every batch goes back, as do the ones still to come, and the body reads to its end.
      landing = true;
      for (const batch of [...held]) give(batch);
      await new Promise((resolve) => response.body.once('end', resolve));
      assert.ok(Buffer.concat(received).equals(data), 'every byte, in order');
      assert.equal(room.used, 0);
    });
  });
});
