// A cold pull-through paces its writes by the blob's one client (store/reader-pace.ts), so the
// client reads from memory rather than the file. A slow or stalled client must never hold the
// fetch back: the blob is committed at the seed's pace, the seed sends it once, and the client,
// whenever it reads again, gets every byte right.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { sha256Of } from '../helpers/sha256-of-url.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const MiB = 1024 * 1024;
const BLOB_BYTES = 48 * MiB;

async function committed(node: ShoalProcess, digest: string): Promise<boolean> {
  const hex = digest.slice('sha256:'.length);
  const dir = join(node.dataDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex);
  return readdir(dir).then((entries) => entries.includes('data'), () => false);
}

/**
 * A blob GET on a raw socket whose reading the test controls: `allow(n)` lets it take n more
 * bytes (then it stops reading, so the kernel's buffers fill and the server's writes wait),
 * `unthrottle()` lets it read freely. The body's sha256 and length come out when it ends.
 */
class ThrottledGet {
  readonly #socket: Socket;
  readonly #hash = createHash('sha256');
  #head = Buffer.alloc(0);
  #inBody = false;
  #allowance = 0;
  #unthrottled = false;
  bodyBytes = 0;
  readonly done: Promise<{ digest: string; bytes: number }>;

  constructor(port: number, path: string) {
    this.#socket = connect(port, '127.0.0.1');
    this.#socket.once('connect', () => this.#socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    this.#socket.on('data', (chunk: Buffer) => this.#take(chunk));
    this.#socket.pause();
    this.done = new Promise((resolve, reject) => {
      this.#socket.once('error', reject);
      this.#socket.once('end', () => resolve({ digest: `sha256:${this.#hash.digest('hex')}`, bytes: this.bodyBytes }));
    });
  }

  allow(bytes: number): void {
    this.#allowance += bytes;
    this.#socket.resume();
  }

  unthrottle(): void {
    this.#unthrottled = true;
    this.#socket.resume();
  }

  #take(chunk: Buffer): void {
    if (!this.#inBody) {
      this.#head = Buffer.concat([this.#head, chunk]);
      const end = this.#head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = this.#head.subarray(0, this.#head.indexOf('\r\n')).toString();
      assert.match(status, /^HTTP\/1\.1 200 /, 'the blob GET answers 200');
      this.#inBody = true;
      chunk = this.#head.subarray(end + 4);
    }
    this.#hash.update(chunk);
    this.bodyBytes += chunk.byteLength;
    this.#allowance -= chunk.byteLength;
    if (!this.#unthrottled && this.#allowance <= 0) this.#socket.pause();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

describe('a slow client does not hold a cold pull-through back', () => {
  let seed: SeedRegistry;
  let image: TestImage;
  const nodes: ShoalProcess[] = [];
  const clients: ThrottledGet[] = [];

  before(async () => {
    seed = await startSeedRegistry();
    image = await makeImage({ layers: [BLOB_BYTES], seed: 'slow-client' });
    await pushImage(seed.url, 'slow/app', 'v1', image);
  });

  after(async () => {
    for (const client of clients) client.destroy();
    for (const node of nodes) await node.dispose();
    await seed?.stop();
    await image?.cleanup();
  });

  /** A fresh node, and a throttled GET of the image's layer through it (cold: the fetch starts). */
  async function coldGet(): Promise<{ node: ShoalProcess; digest: string; client: ThrottledGet }> {
    const node = await startShoal({ upstreams: [seed.url] });
    nodes.push(node);
    const digest = image.layers[0]!.digest;
    seed.clearLog();
    const client = new ThrottledGet(node.port, `/v2/slow/app/blobs/${digest}`);
    clients.push(client);
    return { node, digest, client };
  }

  test('a client reading 640 KiB/s: the blob is committed long before it has read half, and it gets every byte', async () => {
    const { node, digest, client } = await coldGet();
    const ticker = setInterval(() => client.allow(64 * 1024), 100);
    try {
      // Paced to this client, the fetch would end only with the client near the blob's end
      // (~75 s at this rate); unpaced it ends at the seed's pace, with the client far behind.
      await eventually(() => committed(node, digest), 60_000, 'the blob to be committed');
      assert.ok(client.bodyBytes < BLOB_BYTES / 2, `the client had read ${(client.bodyBytes / MiB).toFixed(1)} MiB of ${BLOB_BYTES / MiB} when the blob was committed`);
    } finally {
      clearInterval(ticker);
    }
    client.unthrottle();
    assert.deepEqual(await client.done, { digest: digest, bytes: BLOB_BYTES });
    assert.equal(await seed.blobBytesServed(digest), BLOB_BYTES, 'the seed sent the blob once');
  });

  test('a client that stops reading: the fetch goes on without it, and it resumes on the committed file', async () => {
    const { node, digest, client } = await coldGet();
    client.allow(MiB);
    await eventually(() => client.bodyBytes >= MiB, 30_000, 'the client to read its first MiB');
    await eventually(() => committed(node, digest), 60_000, 'the blob to be committed');
    assert.ok(client.bodyBytes < BLOB_BYTES / 2, `the stalled client had read ${(client.bodyBytes / MiB).toFixed(1)} MiB`);
    assert.deepEqual(await sha256Of(`${node.url}/v2/slow/app/blobs/${digest}`), { status: 200, digest: digest, bytes: BLOB_BYTES }, 'another client reads the committed blob');
    client.unthrottle();
    assert.deepEqual(await client.done, { digest: digest, bytes: BLOB_BYTES });
    assert.equal(await seed.blobBytesServed(digest), BLOB_BYTES, 'the seed sent the blob once');
  });
});
