// What a blob being fetched counts for in the disk accounting that --max-disk-usage evicts by: a
// piece cache (pieces fetched only because peers asked this host as their owner) the bytes it
// holds, a blob a local client pulls its full size from the moment it is wanted whole, a partial
// blob kept from before a restart the bytes its file takes; and nothing once its file is gone or
// has become a stored blob (counted as such, not twice).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { digestOf } from '../../src/oci/index.ts';
import { Evictor, Store } from '../../src/store/index.ts';
import { keptPaths } from '../../src/store/kept-partial.ts';
import { eventually } from '../helpers/eventually.ts';

const PIECE = 64 * 1024;
const MAX = 100 * PIECE;

describe('disk accounting of partial blobs', () => {
  let dir: string;
  let evictor: Evictor | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-partial-usage-'));
  });
  afterEach(async () => {
    await evictor?.close();
    evictor = undefined;
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  });

  async function started(store: Store): Promise<Evictor> {
    evictor = new Evictor(store, { maxBytes: MAX, highWatermarkPercent: 90, lowWatermarkPercent: 50 });
    await evictor.start();
    return evictor;
  }

  test('a piece cache counts the pieces it holds; wanted whole, its full size; committed, the stored blob alone', async () => {
    const { store } = await Store.open(dir);
    const used = await started(store);
    const content = randomBytes(80 * PIECE + 5);
    const digest = digestOf(content);
    const blob = await store.blobs.createPartial(digest, content.length, PIECE);
    assert.equal(store.blobs.usage.reservedBytes, 0, 'a piece cache holds nothing yet');
    await blob.write(3 * PIECE, content.subarray(3 * PIECE, 4 * PIECE));
    await blob.write(7 * PIECE, content.subarray(7 * PIECE, 7 * PIECE + PIECE / 2));
    assert.equal(store.blobs.usage.reservedBytes, PIECE + PIECE / 2, 'a piece and a half held, not the declared 80 pieces');
    assert.equal(used.usedBytes, PIECE + PIECE / 2);

    store.blobs.countWhole(blob);
    assert.equal(store.blobs.usage.reservedBytes, content.length, 'a local pull reserves its room up front');
    store.blobs.countWhole(blob); // twice counts once
    assert.equal(used.usedBytes, content.length);

    await blob.write(7 * PIECE + PIECE / 2, content.subarray(7 * PIECE + PIECE / 2, 8 * PIECE));
    await blob.write(0, content.subarray(0, 3 * PIECE));
    await blob.write(4 * PIECE, content.subarray(4 * PIECE, 7 * PIECE));
    await blob.write(8 * PIECE, content.subarray(8 * PIECE));
    const atCommit: number[] = [];
    store.blobs.onCommitted(() => atCommit.push(used.usedBytes));
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.deepEqual(atCommit, [content.length], 'as the store hears of the blob, it is counted once');
    assert.equal(store.blobs.usage.reservedBytes, 0);
    assert.equal(used.usedBytes, content.length);
  });

  test('a piece cache dropped (failed, or expired unused) counts nothing more', async () => {
    const { store } = await Store.open(dir);
    const content = randomBytes(40 * PIECE);
    const blob = await store.blobs.createPartial(digestOf(content), content.length, PIECE);
    await blob.write(10 * PIECE, content.subarray(10 * PIECE, 12 * PIECE));
    assert.equal(store.blobs.usage.reservedBytes, 2 * PIECE);
    await blob.fail(new Error('piece cache expired unused'));
    assert.equal(store.blobs.usage.reservedBytes, 0);
    store.blobs.countWhole(blob); // a late call on a gone blob counts nothing
    assert.equal(store.blobs.usage.reservedBytes, 0);
  });

  test('a piece cache reset after a failed check counts what is left', async () => {
    const { store } = await Store.open(dir);
    const content = randomBytes(10 * PIECE);
    const blob = await store.blobs.createPartial(digestOf(content), content.length, PIECE);
    await blob.write(0, content.subarray(0, 3 * PIECE));
    blob.resetPiece(1);
    assert.equal(store.blobs.usage.reservedBytes, 2 * PIECE);
    await blob.fail(new Error('test over'));
  });

  test('partial blobs kept across a restart count their bytes on disk, then, taken up, what the fetch holds', async () => {
    const content = randomBytes(80 * PIECE);
    const digest = digestOf(content);
    {
      // A piece cache of pieces 0, 1 and 40 (and half of 41), left as a kill -9 leaves it.
      const { store } = await Store.open(dir);
      const blob = await store.blobs.createPartial(digest, content.length, PIECE);
      await blob.write(0, content.subarray(0, 2 * PIECE));
      await blob.write(40 * PIECE, content.subarray(40 * PIECE, 41 * PIECE + PIECE / 2));
      const { sidecar } = keptPaths(store.layout, digest);
      await eventually(async () => JSON.parse(await readFile(sidecar, 'utf8').catch(() => '{}')).complete?.length === 3, 5_000, 'the complete pieces to be recorded');
    }
    const { store } = await Store.open(dir);
    const onDisk = (await stat(keptPaths(store.layout, digest).data)).blocks * 512;
    assert.ok(onDisk >= 3.5 * PIECE && onDisk < content.length, `the sparse file takes ${onDisk} bytes`);
    assert.equal(store.blobs.usage.reservedBytes, onDisk, 'counted from start-up');
    const used = await started(store);
    assert.equal(used.usedBytes, onDisk);

    // A fetch takes the file up: its kept pieces count once, as that fetch's.
    const blob = await store.blobs.createPartial(digest, content.length, PIECE);
    assert.equal(blob.received, 3 * PIECE);
    assert.equal(store.blobs.usage.reservedBytes, 3 * PIECE);
    await blob.fail(new Error('test over'));
    assert.equal(store.blobs.usage.reservedBytes, 0);
    assert.equal(used.usedBytes, 0);
  });
});
