// A transfer hands a blob its next write before the last one landed (distribute/piece-run.ts):
// writes in flight count when the next one is checked, are recorded in order, and one that goes
// on from a write that failed fails too, so the bytes present never have a gap.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { digestOf } from '../../src/oci/index.ts';
import { Store } from '../../src/store/index.ts';
import { stopHashWorker } from '../../src/store/prefix-hasher.ts';
import { tempStorePerTest } from '../helpers/temp-store.ts';

const run = promisify(execFile);
const KiB = 1024;

describe('PartialBlob: writes in flight', () => {
  const temp = tempStorePerTest('shoal-in-flight-');

  test('the next write of a piece is taken before the last one landed; both are recorded, in order', async () => {
    const content = randomBytes(1024 * KiB);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, 512 * KiB);
    const reader = blob.createReader(temp.store.blobs.path(blob.digest));
    const read = (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of reader) chunks.push(Buffer.from(chunk as Buffer));
      return Buffer.concat(chunks);
    })();
    // What each piece had recorded at every change: the two pieces' writes land in any order.
    const seen: Array<[number, number]> = [];
    const unsubscribe = blob.onChange(() => seen.push([blob.pieceFilled(0), blob.pieceFilled(1)]));
    // Four writes handed over at once: two in each piece, the third runs on from the second.
    const writes = [0, 256, 512, 768].map((at) => blob.write(at * KiB, content.subarray(at * KiB, (at + 256) * KiB)));
    assert.equal(blob.pieceFilled(0), 0, 'nothing is recorded before it landed');
    await Promise.all(writes);
    unsubscribe();
    for (const piece of [0, 1]) {
      const filled = [...new Set(seen.map((s) => s[piece]!).filter((n) => n > 0))];
      assert.deepEqual(filled, [256 * KiB, 512 * KiB], `piece ${piece}: each write is recorded after the one before it, whichever landed first`);
    }
    assert.equal(blob.availableFrom(0), 1024 * KiB);
    assert.deepEqual(blob.completePieces(), [0, 1]);
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.ok((await read).equals(content), 'the reader got every byte, in order');
  });

  test('a write that overlaps or skips bytes still in flight is refused, and the piece keeps its in-flight write', async () => {
    const content = randomBytes(512 * KiB);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, 512 * KiB);
    const first = blob.write(0, content.subarray(0, 128 * KiB));
    await assert.rejects(blob.write(0, content.subarray(0, 128 * KiB)), /does not continue piece 0 \(its fill goes on at 131072\)/);
    await assert.rejects(blob.write(256 * KiB, content.subarray(256 * KiB, 384 * KiB)), /does not continue piece 0/);
    await first;
    await blob.write(128 * KiB, content.subarray(128 * KiB));
    assert.deepEqual(await blob.commit(), { ok: true });
  });
});

// A real failed write: the blob's file on a small tmpfs (mounting needs root, as CI has).
describe('PartialBlob: a write in flight fails', () => {
  test('the writes that go on from it fail too, nothing of theirs is recorded, and the piece can be written again from where it was', async () => {
    const mountPoint = await mkdtemp(join(tmpdir(), 'shoal-in-flight-tmpfs-'));
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
    } catch (error) {
      await rm(mountPoint, { recursive: true, force: true });
      throw new Error(`this test mounts a tmpfs and needs root (as CI runs it): ${(error as Error).message}`);
    }
    try {
      const { store } = await Store.open(mountPoint);
      const content = randomBytes(4 * 1024 * KiB);
      const blob = await store.blobs.createPartial(digestOf(content), content.length, content.length);
      await blob.write(0, content.subarray(0, 64 * KiB));
      // More than the file system holds, then a write that goes on from it.
      const tooLarge = blob.write(64 * KiB, content.subarray(64 * KiB, 2048 * KiB));
      const after = blob.write(2048 * KiB, content.subarray(2048 * KiB, 2112 * KiB));
      await assert.rejects(tooLarge, /ENOSPC|no space/i);
      await assert.rejects(after, /ENOSPC|no space/i, 'the write after a failed one fails with its error');
      assert.equal(blob.pieceFilled(0), 64 * KiB, 'only the bytes before the failed write are present');
      assert.equal(blob.availableFrom(0), 64 * KiB);
      // The claims are given back: the piece goes on from its last byte present (the write itself may fail again: the disk is still full).
      await assert.rejects(blob.write(64 * KiB, content.subarray(64 * KiB, 2048 * KiB)), /ENOSPC|no space/i);
      await blob.fail(new Error('test over'));
    } finally {
      // The hash worker may still hold the temp file open (it closes it after the blob failed): the mount would be busy.
      await stopHashWorker();
      await run('umount', [mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });
});
