import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { digestOf, parseDigest, parseManifest, type Digest } from '../../src/oci/index.ts';
import { Evictor, Store, type EvictionOptions } from '../../src/store/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { createTestRegistry } from '../helpers/registry-app.ts';
import { imageManifest, makeBlob } from '../helpers/oci-fixtures.ts';

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);
const KB = 1000;

interface Stored {
  readonly digest: Digest;
  readonly size: number;
  readonly content: Buffer;
}

/** A blob as a pull-through fetch stores it (a PartialBlob, no push grace). */
async function fetched(store: Store, size: number): Promise<Stored> {
  const content = randomBytes(size);
  const digest = digestOf(content);
  const partial = await store.blobs.createPartial(digest, size, 64 * 1024);
  await partial.append(content);
  assert.deepEqual(await partial.commit(), { ok: true });
  return { digest, size, content };
}

/** Access order: later `rank` is more recently used (all in the future of anything the test did). */
const FUTURE = Date.now() + 3_600_000;
function accessed(store: Store, blob: Stored, rank: number): void {
  store.blobs.usage.touch(blob.digest, FUTURE + rank * 1000);
}

/** Stores an image whose config and layers came from a fetch; the manifest is pushed or pulled. */
async function image(store: Store, name: string, tag: string, options: { pushed: boolean; layers?: number }): Promise<{ manifest: Digest; config: Stored; layers: Stored[] }> {
  const config = await fetched(store, 1 * KB);
  const layers: Stored[] = [];
  for (let i = 0; i < (options.layers ?? 2); i++) layers.push(await fetched(store, 100 * KB));
  for (const blob of [config, ...layers]) await store.repositories.linkBlob(name, blob.digest);
  const manifest = imageManifest({ config: makeBlob(config.content), layers: layers.map((l) => makeBlob(l.content)) });
  const digest = await store.manifests.put(name, manifest.body, parseManifest(manifest.body, manifest.mediaType), tag, undefined, { pushed: options.pushed });
  return { manifest: digest, config, layers };
}

describe('Evictor: watermarks and LRU', () => {
  let dir: string;
  let store: Store;
  let evictor: Evictor | undefined;
  const deleted: string[] = [];
  const limits = (extra: Partial<EvictionOptions> = {}): EvictionOptions => ({ maxBytes: 1000 * KB, highWatermarkPercent: 90, lowWatermarkPercent: 50, ...extra });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-evict-'));
    ({ store } = await Store.open(dir));
    deleted.length = 0;
    store.blobs.onDeleted((digest) => deleted.push(digest.value));
  });
  afterEach(async () => {
    await evictor?.close();
    evictor = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  test('below the high watermark nothing is evicted', async () => {
    const blobs = [await fetched(store, 300 * KB), await fetched(store, 300 * KB), await fetched(store, 299 * KB)];
    evictor = new Evictor(store, limits());
    const result = await evictor.run();
    assert.deepEqual(result.evicted, []);
    assert.equal(result.usedBefore, 899 * KB);
    for (const blob of blobs) assert.equal(await store.blobs.stat(blob.digest), blob.size);
  });

  test('above it, the least-recently-used blobs go until the low watermark, each reported as deleted (swarm withdrawal)', async () => {
    const blobs: Stored[] = [];
    for (let i = 0; i < 10; i++) blobs.push(await fetched(store, 100 * KB));
    blobs.forEach((blob, i) => accessed(store, blob, i));
    accessed(store, blobs[0]!, 100); // used again: now the most recent
    evictor = new Evictor(store, limits());
    const result = await evictor.run();
    const expected = [1, 2, 3, 4, 5].map((i) => blobs[i]!.digest.value);
    assert.deepEqual(result.evicted.map((e) => e.digest), expected);
    assert.equal(result.freedBytes, 500 * KB);
    assert.equal(result.usedBefore, 1000 * KB);
    assert.equal(result.usedAfter, 500 * KB);
    assert.deepEqual(deleted, expected);
    for (const [i, blob] of blobs.entries()) {
      assert.equal(await exists(store.blobs.path(blob.digest)), !expected.includes(blob.digest.value), `blob ${i}`);
    }
    assert.equal(store.blobs.usage.lastAccess(blobs[1]!.digest), undefined, 'access record dropped with the blob');
    assert.deepEqual((await evictor.run()).evicted, [], 'at the low watermark now: nothing more');
  });

  test('blobs without an access record count from their file time', async () => {
    const blobs: Stored[] = [];
    for (let i = 0; i < 10; i++) blobs.push(await fetched(store, 100 * KB));
    // A restart that lost the access times: only the files' times are left.
    const { store: reopened } = await Store.open(dir);
    evictor = new Evictor(reopened, limits({ lowWatermarkPercent: 80 }));
    const result = await evictor.run();
    assert.equal(result.evicted.length, 2);
  });

  test('a blob in use is never evicted, even as the least recently used; released, it can be', async () => {
    const blobs: Stored[] = [];
    for (let i = 0; i < 10; i++) blobs.push(await fetched(store, 100 * KB));
    const release = store.blobs.acquire(blobs[0]!.digest);
    blobs.forEach((blob, i) => {
      if (i > 0) accessed(store, blob, i);
    });
    assert.equal(store.blobs.usage.isInUse(blobs[0]!.digest), true);
    evictor = new Evictor(store, limits());
    const first = await evictor.run();
    assert.ok(!first.evicted.some((e) => e.digest === blobs[0]!.digest.value));
    assert.deepEqual(first.evicted.map((e) => e.digest), [1, 2, 3, 4, 5].map((i) => blobs[i]!.digest.value));
    assert.equal(first.protectedBytes, 100 * KB);
    release();
    release(); // twice releases once
    assert.equal(store.blobs.usage.isInUse(blobs[0]!.digest), false);
    for (let i = 0; i < 5; i++) accessed(store, await fetched(store, 100 * KB), 50 + i);
    const second = await evictor.run();
    assert.equal(second.evicted[0]?.digest, blobs[0]!.digest.value, 'the oldest of the rest');
  });

  test('a PartialBlob reader holds the blob after its commit until it is done', async () => {
    const old = await fetched(store, 400 * KB);
    const content = randomBytes(600 * KB);
    const digest = digestOf(content);
    const partial = await store.blobs.createPartial(digest, content.length, 64 * 1024);
    const reader = partial.createReader(store.blobs.path(digest), undefined, { holdBackUnverified: false });
    await partial.append(content);
    await partial.commit();
    assert.equal(store.blobs.usage.isInUse(digest), true);
    accessed(store, old, 10); // the new blob is the least recently used
    store.blobs.usage.touch(digest, 0);
    evictor = new Evictor(store, limits({ lowWatermarkPercent: 10 }));
    const result = await evictor.run();
    assert.deepEqual(result.evicted.map((e) => e.digest), [old.digest.value], 'the one being read stays');
    reader.destroy();
    await eventually(() => !store.blobs.usage.isInUse(digest), 2000, 'reader released');
  });

  test('a blob being sent by the API is in use until the response is over', async () => {
    const registry = await createTestRegistry({ dataDir: dir });
    try {
      const big = makeBlob(randomBytes(8 * 1024 * 1024));
      const res = await registry.app.inject({ method: 'POST', url: `/v2/team/big/blobs/uploads/?digest=${big.digest}`, payload: big.content, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(res.statusCode, 201);
      await registry.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = registry.app.server.address() as AddressInfo;
      const response = await new Promise<IncomingMessage>((resolve, reject) => httpGet({ host: '127.0.0.1', port, path: `/v2/team/big/blobs/${big.digest}`, agent: false }, resolve).on('error', reject));
      response.pause(); // a slow client: the socket fills, the send waits
      assert.equal(response.statusCode, 200);
      assert.deepEqual(registry.store.blobs.usage.inUse(), [big.digest], 'held while the client is slow');
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      const ended = new Promise((resolve) => response.once('end', resolve));
      response.resume();
      await ended;
      assert.ok(Buffer.concat(chunks).equals(big.content));
      await eventually(() => registry.store.blobs.usage.inUse().length === 0, 2000, 'blob released');
    } finally {
      await registry.close();
    }
  });

  test('a HEAD counts as a use: a pusher about to reference the blob keeps it recent', async () => {
    const registry = await createTestRegistry({ dataDir: dir });
    try {
      const blob = makeBlob(randomBytes(1000));
      await registry.app.inject({ method: 'POST', url: `/v2/team/app/blobs/uploads/?digest=${blob.digest}`, payload: blob.content, headers: { 'content-type': 'application/octet-stream' } });
      const digest = parseDigest(blob.digest);
      const before = registry.store.blobs.usage.lastAccess(digest)!;
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal((await registry.app.inject({ method: 'HEAD', url: `/v2/team/app/blobs/${blob.digest}` })).statusCode, 200);
      assert.ok(registry.store.blobs.usage.lastAccess(digest)! > before);
    } finally {
      await registry.close();
    }
  });

  test('pushed images stay; pulled ones go; manifests always stay; a pushed tag that moves frees the old image', async () => {
    const pulled = await image(store, 'mirror/nginx', '1.14', { pushed: false });
    const pushed = await image(store, 'team/app', '1', { pushed: true });
    const filler: Stored[] = [];
    for (let i = 0; i < 6; i++) filler.push(await fetched(store, 100 * KB));
    evictor = new Evictor(store, limits({ lowWatermarkPercent: 1 }));
    const result = await evictor.run();
    const evicted = new Set(result.evicted.map((e) => e.digest));
    for (const blob of [pulled.config, ...pulled.layers, ...filler]) assert.ok(evicted.has(blob.digest.value), 'pulled and unreferenced blobs go');
    for (const blob of [pushed.config, ...pushed.layers]) assert.equal(await store.blobs.stat(blob.digest), blob.size, 'pushed image stays');
    for (const manifest of [pulled.manifest, pushed.manifest]) assert.ok(await store.blobs.stat(manifest), 'manifests stay');
    assert.ok(result.usedAfter > evictor.lowBytes);
    assert.deepEqual(store.pushed.records().map((r) => [r.repository, r.tag, r.digest]), [['team/app', '1', pushed.manifest.value]]);

    // The same tag pushed again: the old image is no longer what the pushed tag names.
    const next = await image(store, 'team/app', '1', { pushed: true });
    for (let i = 0; i < 6; i++) await fetched(store, 100 * KB);
    const second = await evictor.run();
    const evictedNow = new Set(second.evicted.map((e) => e.digest));
    for (const blob of pushed.layers) assert.ok(evictedNow.has(blob.digest.value), 'the old pushed layers go');
    for (const blob of next.layers) assert.ok(await store.blobs.stat(blob.digest), 'the new ones stay');
  });

  test('a push by digest is kept too, until that revision is deleted', async () => {
    const byDigest = await image(store, 'team/sig', 'unused', { pushed: false });
    await store.repositories.untag('team/sig', 'unused');
    await store.pushed.record('team/sig', byDigest.manifest);
    evictor = new Evictor(store, limits({ maxBytes: 100 * KB, lowWatermarkPercent: 1 }));
    assert.deepEqual((await evictor.run()).evicted, []);
    await store.repositories.unlinkManifest('team/sig', byDigest.manifest);
    assert.equal((await evictor.run()).evicted.length, 3);
  });

  test('tagged images of repositories no upstream serves are kept', async () => {
    const local = await image(store, 'local/only', 'v1', { pushed: false });
    const mirrored = await image(store, 'mirror/app', 'v1', { pushed: false });
    evictor = new Evictor(store, limits({ maxBytes: 100 * KB, lowWatermarkPercent: 1, canRefetch: (name) => name !== 'local/only' }));
    const evicted = new Set((await evictor.run()).evicted.map((e) => e.digest));
    for (const blob of local.layers) assert.ok(!evicted.has(blob.digest.value));
    for (const blob of mirrored.layers) assert.ok(evicted.has(blob.digest.value));
  });

  test('blobs a push just committed are kept for the grace period', async () => {
    const writer = await store.blobs.createWriter();
    await writer.write(randomBytes(200 * KB));
    const pushedBlob = await writer.commit();
    const other = await fetched(store, 900 * KB);
    accessed(store, other, 1);
    store.blobs.usage.touch(pushedBlob, 0);
    evictor = new Evictor(store, limits());
    assert.deepEqual((await evictor.run()).evicted.map((e) => e.digest), [other.digest.value]);
    await fetched(store, 900 * KB);
    store.blobs.usage.markPushed(pushedBlob, 0); // the grace period is over
    assert.ok((await evictor.run()).evicted.some((e) => e.digest === pushedBlob.value));
  });

  test('started, it follows commits and evicts in the background once the high watermark is crossed', async () => {
    evictor = new Evictor(store, limits());
    await evictor.start();
    assert.equal(evictor.blobBytes, 0);
    for (let i = 0; i < 9; i++) await fetched(store, 100 * KB);
    assert.equal(evictor.blobBytes, 900 * KB);
    assert.equal(deleted.length, 0, 'at the high watermark, not above it');
    await fetched(store, 100 * KB);
    await eventually(() => deleted.length === 5, 5000, 'background eviction');
    assert.equal(evictor.blobBytes, 500 * KB);
  });

  test('a blob a local client pulls counts with its declared size: room is made while it arrives', async () => {
    for (let i = 0; i < 6; i++) await fetched(store, 100 * KB);
    evictor = new Evictor(store, limits());
    await evictor.start();
    const partial = await store.blobs.createPartial(digestOf(randomBytes(8)), 400 * KB, 64 * 1024);
    store.blobs.countWhole(partial);
    assert.equal(evictor.usedBytes, 1000 * KB);
    await eventually(() => deleted.length === 5, 5000, 'eviction for the reservation');
    assert.equal(evictor.usedBytes, 500 * KB);
    await partial.fail(new Error('test over'));
    assert.equal(store.blobs.usage.reservedBytes, 0);
  });

  test('usage is recounted from the disk at each run: files removed behind its back drop out', async () => {
    const blobs: Stored[] = [];
    for (let i = 0; i < 5; i++) blobs.push(await fetched(store, 100 * KB));
    evictor = new Evictor(store, limits());
    await evictor.start();
    assert.equal(evictor.blobBytes, 500 * KB);
    await rm(join(store.blobs.path(blobs[0]!.digest), '..'), { recursive: true });
    await evictor.run();
    assert.equal(evictor.blobBytes, 400 * KB);
  });

  test('access times are persisted and read back by the next start', async () => {
    const blob = await fetched(store, 10 * KB);
    accessed(store, blob, 7);
    await store.blobs.usage.persist();
    const { store: again } = await Store.open(dir);
    assert.equal(again.blobs.usage.lastAccess(blob.digest), FUTURE + 7000);
  });
});

describe('disk settings', () => {
  const load = (argvOptions: Record<string, unknown>, env: Record<string, string> = {}) => loadConfig({ argvOptions, env, cwd: '/', homedir: '/' });

  test('defaults, sizes and percentages', async () => {
    assert.deepEqual((await load({})).disk, { maxBytes: 0, highWatermarkPercent: 90, lowWatermarkPercent: 80 });
    assert.deepEqual((await load({ maxDiskUsage: '200GiB', diskHighWatermark: '95%', diskLowWatermark: '70.5%' })).disk, { maxBytes: 200 * 1024 ** 3, highWatermarkPercent: 95, lowWatermarkPercent: 70.5 });
    assert.equal((await load({}, { SHOAL_MAX_DISK_USAGE: '1GB' })).disk.maxBytes, 1e9);
  });

  test('a low watermark at or above the high one, or a bad percentage, is one ConfigError line', async () => {
    const refused = async (options: Record<string, unknown>, message: RegExp): Promise<void> => {
      await assert.rejects(load(options), (error: unknown) => error instanceof ConfigError && message.test(error.message) && !error.message.includes('\n'));
    };
    await refused({ diskLowWatermark: '90%' }, /^disk-low-watermark 90% \(--disk-low-watermark\) must be below disk-high-watermark 90% \(default\)/);
    await refused({ diskHighWatermark: '0%' }, /^invalid --disk-high-watermark "0%": expected a percentage above 0% and at most 100%, such as 90%$/);
    await refused({ diskHighWatermark: '90' }, /^invalid --disk-high-watermark "90": expected a percentage/);
    await refused({ diskLowWatermark: '101%' }, /^invalid --disk-low-watermark "101%"/);
    await refused({ maxDiskUsage: 'lots' }, /^invalid --max-disk-usage "lots": expected a size/);
  });
});
