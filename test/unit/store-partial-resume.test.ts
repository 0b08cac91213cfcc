// A partial blob's complete pieces outlive the process that wrote them (issue 10, item 11): the
// next createPartial of the digest, after the store is opened again, starts with them.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestOf } from '../../src/oci/index.ts';
import { Store } from '../../src/store/index.ts';
import { keptPaths, partialsDir } from '../../src/store/kept-partial.ts';
import { eventually } from '../helpers/eventually.ts';

const PIECE = 64 * 1024;

describe('partial blobs resume after a restart', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-resume-'));
  });
  // A blob left unfinished by a test may still be saving its piece list as the folder goes.
  afterEach(() => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));

  /** Writes pieces 0, 1 and 3 and half of 2, then abandons the blob as a kill -9 would. */
  async function abandoned(content: Buffer): Promise<void> {
    const { store } = await Store.open(dir);
    const blob = await store.blobs.createPartial(digestOf(content), content.length, PIECE);
    await blob.write(0, content.subarray(0, 2 * PIECE));
    await blob.write(3 * PIECE, content.subarray(3 * PIECE, 4 * PIECE));
    await blob.write(2 * PIECE, content.subarray(2 * PIECE, 2 * PIECE + PIECE / 2));
    const { sidecar } = keptPaths(store.layout, digestOf(content));
    await eventually(async () => JSON.parse(await readFile(sidecar, 'utf8').catch(() => '{}')).complete?.length === 3, 5_000, 'the complete pieces to be recorded');
  }

  test('complete pieces come back as complete; the rest is fetched again; the digest covers every byte', async () => {
    const content = randomBytes(5 * PIECE);
    await abandoned(content);
    const { store } = await Store.open(dir);
    const blob = await store.blobs.createPartial(digestOf(content), content.length, PIECE);
    assert.deepEqual(blob.completePieces(), [0, 1, 3]);
    assert.equal(blob.pieceFilled(2), 0, 'a piece cut short starts over');
    assert.equal(blob.availableFrom(0), 2 * PIECE);
    await blob.write(2 * PIECE, content.subarray(2 * PIECE, 3 * PIECE));
    await blob.write(4 * PIECE, content.subarray(4 * PIECE));
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.ok((await store.blobs.read(digestOf(content)))!.equals(content));
    assert.deepEqual(await readdir(partialsDir(store.layout)), [], 'nothing kept once committed');
  });

  test('a kept byte that went bad on disk fails verification instead of being trusted', async () => {
    const content = randomBytes(5 * PIECE);
    await abandoned(content);
    const { store } = await Store.open(dir);
    const { data } = keptPaths(store.layout, digestOf(content));
    const bytes = await readFile(data);
    bytes[10] = bytes[10]! ^ 0xff;
    await writeFile(data, bytes);
    const blob = await store.blobs.createPartial(digestOf(content), content.length, PIECE);
    await blob.write(2 * PIECE, content.subarray(2 * PIECE, 3 * PIECE));
    await blob.write(4 * PIECE, content.subarray(4 * PIECE));
    const result = await blob.commit();
    assert.equal(result.ok, false);
    await blob.fail(new Error('test over'));
  });

  test('another size or piece size starts from nothing; old kept files are removed at start-up', async () => {
    const content = randomBytes(5 * PIECE);
    await abandoned(content);
    let { store } = await Store.open(dir);
    const other = await store.blobs.createPartial(digestOf(content), content.length, PIECE * 2);
    assert.deepEqual(other.completePieces(), []);
    await other.fail(new Error('test'));

    await abandoned(content);
    ({ store } = await Store.open(dir));
    assert.equal(await store.blobs.keptPartialSize(digestOf(content)), content.length);
    const { sidecar } = keptPaths(store.layout, digestOf(content));
    const old = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    await utimes(sidecar, old, old);
    ({ store } = await Store.open(dir));
    assert.deepEqual(await readdir(partialsDir(store.layout)), []);
    assert.equal(await store.blobs.keptPartialSize(digestOf(content)), undefined);
  });
});
