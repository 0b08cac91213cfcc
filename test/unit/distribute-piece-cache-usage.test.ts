// The disk a piece cache counts for, on an in-process host of fake-peer.ts (real store, fetcher and
// evictor, a counting seed): a host asked as the owner of a piece of a blob it never pulled fetches
// that piece and counts it, not the blob's declared size, so it does not evict its own pulled
// images for bytes it never writes; its own pull of that blob counts the whole size from the start
// (room is made before the bytes come); and a cache dropped unused counts nothing more.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import type { Readable } from 'node:stream';
import { Evictor } from '../../src/store/index.ts';
import { MemoryNetwork } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, REPOSITORY, startHost, type Host, type HostInit } from '../helpers/fake-peer.ts';

const MiB = 1024 * 1024;

async function drain(stream: Readable): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += (chunk as Buffer).length;
  return bytes;
}

describe('distribute: what a piece cache counts for on disk', { timeout: 60_000 }, () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((x) => x.close()));
  });

  async function host(seed: CountingSeed, init: Partial<HostInit> = {}): Promise<Host> {
    const started = await startHost({ network: new MemoryNetwork(), seed, name: 'a', ...init, fetcher: { pieceSize: MiB, ...init.fetcher } });
    open.push(started);
    return started;
  }

  /** `host` asked, as the owner, for piece `index` of `digest` (size `size`): the bytes it sends. */
  async function ownerAsk(a: Host, digest: Parameters<Host['fetch']>[0], size: number, index: number): Promise<number> {
    const read = await a.fetcher.forPeer(digest, { repository: REPOSITORY, size }, '127.0.0.1');
    assert.ok(read);
    return drain(read.read({ start: index * MiB, end: (index + 1) * MiB - 1 }));
  }

  test('an owner piece cache counts its pieces, so pulled images stay; a pull of the blob counts it whole from the start', async () => {
    const seed = new CountingSeed();
    const pulled = randomBytes(4 * MiB);
    const cached = randomBytes(100 * MiB);
    const pulledDigest = seed.add(pulled);
    const cachedDigest = seed.add(cached);
    const a = await host(seed);
    assert.ok((await a.fetch(pulledDigest))?.equals(pulled));
    const evictor = new Evictor(a.store, { maxBytes: 10 * MiB, highWatermarkPercent: 90, lowWatermarkPercent: 50 });
    open.push(evictor);
    await evictor.start();

    assert.equal(await ownerAsk(a, cachedDigest, cached.length, 2), MiB);
    const cache = a.fetcher.partial(cachedDigest);
    assert.ok(cache && cache.received < cached.length, 'only what was asked for is fetched');
    assert.equal(a.store.blobs.usage.reservedBytes, cache.received, `a piece cache holding ${cache.received} bytes counts ${a.store.blobs.usage.reservedBytes}`);
    const run = await evictor.run();
    assert.deepEqual(run.evicted, [], 'the pulled image is not evicted for bytes never written');
    assert.equal(run.usedAfter, pulled.length + cache.received);
    assert.ok(await a.store.blobs.stat(pulledDigest));

    // A local client pulls it: the whole size counts before its bytes arrive.
    const whole = await a.fetcher.fetch({ name: REPOSITORY, digest: cachedDigest });
    assert.equal(whole, cache, 'the pull goes on from the piece cache');
    assert.equal(a.store.blobs.usage.reservedBytes, cached.length);
    await whole.done();
    assert.equal(a.store.blobs.usage.reservedBytes, 0, 'committed: counted as a stored blob only');
    assert.equal(await a.store.blobs.stat(cachedDigest), cached.length);
  });

  test('a piece cache dropped unused counts nothing more', async () => {
    const seed = new CountingSeed();
    const content = randomBytes(20 * MiB);
    const digest = seed.add(content);
    const a = await host(seed, { fetcher: { pieceSize: MiB, keepPiecesMs: 50 } });
    assert.equal(await ownerAsk(a, digest, content.length, 7), MiB);
    assert.ok(a.store.blobs.usage.reservedBytes > 0 && a.store.blobs.usage.reservedBytes < content.length);
    await eventually(() => a.fetcher.partial(digest) === undefined, 10_000, 'the unused piece cache to be dropped');
    await eventually(async () => (await a.tmpFiles()).length === 0, 10_000, 'its file to go');
    assert.equal(a.store.blobs.usage.reservedBytes, 0);
  });
});
