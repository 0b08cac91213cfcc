// Responses share one send room (src/lib/send-room.ts), over real sockets: while clients read
// nothing, the bytes of unwritten chunks all their responses hold stay within the room, and the
// responses beyond it wait holding none; once the clients read, every byte arrives. A client
// that stalls holds its bytes, but not the others back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendFileRange } from '../../src/http/send-file.ts';
import { SendRoom } from '../../src/lib/send-room.ts';

const MiB = 1024 * 1024;
const content = randomBytes(24 * MiB);

/** A GET whose client reads nothing until `read` is called; `read` resolves with the body. */
function lazyGet(port: number): { read: () => Promise<Buffer>; socket: Socket } {
  const socket = connect(port, '127.0.0.1');
  socket.pause();
  socket.write('GET /blob HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n');
  const read = async (): Promise<Buffer> => {
    const received: Buffer[] = [];
    socket.on('data', (data: Buffer) => received.push(data));
    socket.resume();
    await new Promise((resolve) => socket.once('end', resolve));
    const all = Buffer.concat(received);
    return all.subarray(all.indexOf('\r\n\r\n') + 4);
  };
  return { read, socket };
}

/** Waits for `condition`; a generous bound, so a broken room fails the test instead of hanging it. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const give = Date.now() + 60_000;
  while (!condition()) {
    if (Date.now() > give) throw new Error(`still not so after 60 s: ${what}`);
    await sleep(10);
  }
}

describe('send room, real sockets', () => {
  let dir: string;
  let path: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-send-room-'));
    path = join(dir, 'blob');
    await writeFile(path, content);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function serve(room: SendRoom): Promise<{ port: number; server: Server }> {
    const server = createServer((_request, response) => {
      void sendFileRange(response, path, 0, content.length - 1, () => response.writeHead(200, { 'content-length': String(content.length) }), undefined, room);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as AddressInfo).port, server };
  }

  it('holds no more than the room while clients read nothing; the rest wait; then every byte arrives', async (t) => {
    const limit = 2 * MiB;
    const room = new SendRoom(limit, 600_000);
    const { port, server } = await serve(room);
    t.after(() => server.close());
    const clients = Array.from({ length: 8 }, () => lazyGet(port));
    t.after(() => clients.forEach((c) => c.socket.destroy()));
    // Sockets fill up one after another; responses left without room wait for it.
    await until(() => room.waiting > 0, 'a response waits for room');
    let most = 0;
    for (let i = 0; i < 30; i++) {
      most = Math.max(most, room.used);
      await sleep(10);
    }
    assert.ok(most <= limit, `the responses held ${most} bytes of unwritten chunks, more than the room's ${limit}`);
    const bodies = await Promise.all(clients.map((c) => c.read()));
    for (const body of bodies) assert.ok(body.equals(content), 'every byte, in order');
    await until(() => room.used === 0 && room.waiting === 0, 'every grant given back');
  });

  it('a client that stalls does not hold the others back', async (t) => {
    const room = new SendRoom(MiB, 100);
    const { port, server } = await serve(room);
    t.after(() => server.close());
    const stalled = lazyGet(port);
    t.after(() => stalled.socket.destroy());
    await until(() => room.used > 0, 'the stalled response holds room');
    const body = await lazyGet(port).read();
    assert.ok(body.equals(content), 'the reading client got its blob while the other read nothing');
  });
});
