// sendFileRange's buffers: one response alone reads a chunk ahead while the previous one is
// written; a crowd's responses (chunks at the budget's floor) hold one chunk each, since each
// waits on its client's socket most of the time. What a response held comes back to the pool at
// its end, so the pool's growth counts the buffers it used.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { MAX_CHUNK_BYTES, MIN_CHUNK_BYTES, downloadStarted, downloadsInFlight, pooledChunkBytes } from '../../src/lib/download-budget.ts';
import { sendFileRange } from '../../src/http/send-file.ts';

describe('sendFileRange', () => {
  let dir: string;
  let server: Server;
  let url: string;
  /** The server's last send, done once the response's buffers are back in the pool. */
  let sent: Promise<void> = Promise.resolve();
  const content = randomBytes(3 * MAX_CHUNK_BYTES + 12_345);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-send-file-'));
    const path = join(dir, 'blob');
    await writeFile(path, content);
    server = createServer((req, res) => {
      const [start, end] = (req.headers['x-range'] as string | undefined)?.split('-').map(Number) ?? [0, content.length - 1];
      sent = sendFileRange(res, path, start!, end!, () => res.writeHead(200, { 'content-length': String(end! - start! + 1) }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const get = async (range?: string): Promise<Buffer> => {
    const response = await request(url, { headers: range ? { 'x-range': range } : {} });
    const body = Buffer.from(await response.body.arrayBuffer());
    await sent;
    return body;
  };

  it('in a crowd, sends every byte with one buffer, no chunk read ahead', async () => {
    assert.equal(pooledChunkBytes(), 0, 'the pool starts empty (this test runs first in its own process)');
    const crowd: Array<() => void> = [];
    while (downloadsInFlight() < 1000) crowd.push(downloadStarted());
    try {
      assert.ok((await get()).equals(content));
      assert.equal(pooledChunkBytes(), MIN_CHUNK_BYTES, 'one smallest chunk used, given back at the end');
      assert.ok((await get('1000-200000')).equals(content.subarray(1000, 200_001)), 'a range, in many chunks');
      assert.equal(pooledChunkBytes(), MIN_CHUNK_BYTES, 'the same chunk again');
    } finally {
      for (const release of crowd) release();
    }
  });

  it('alone, reads the next chunk while the previous one is written: two full-size buffers', async () => {
    const before = pooledChunkBytes();
    assert.ok((await get()).equals(content));
    assert.equal(pooledChunkBytes() - before, 2 * MAX_CHUNK_BYTES);
  });
});
