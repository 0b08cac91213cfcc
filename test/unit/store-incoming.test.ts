import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { OciError, digestOf, type Digest } from '../../src/oci/index.ts';
import { IncomingBlob, Store } from '../../src/store/index.ts';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('IncomingBlob: readers of a blob being written', () => {
  let dir: string;
  let store: Store;
  const content = randomBytes(1024 * 1024 + 333);
  const digest = digestOf(content);
  const pieces = (size = 100_000): Buffer[] => {
    const out: Buffer[] = [];
    for (let i = 0; i < content.length; i += size) out.push(content.subarray(i, i + size));
    return out;
  };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-store-incoming-'));
    ({ store } = await Store.open(dir));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const incoming = async (size: number | undefined = content.length, d: Digest = digest): Promise<IncomingBlob> => new IncomingBlob(d, await store.blobs.createWriter(), size);

  test('readers created before, during and after the bytes arrive, and after commit, get exactly the bytes', async () => {
    const blob = await incoming();
    const before = collect(blob.createReader(store.blobs));
    assert.equal(blob.readers, 1);
    const all = pieces();
    let during: Promise<Buffer> | undefined;
    for (const [i, piece] of all.entries()) {
      await blob.append(piece);
      if (i === Math.floor(all.length / 2)) during = collect(blob.createReader(store.blobs));
      await tick();
    }
    const allWritten = collect(blob.createReader(store.blobs));
    await blob.commit();
    assert.equal(blob.state, 'committed');
    await blob.done();
    const afterCommit = collect(blob.createReader(store.blobs));
    for (const got of await Promise.all([before, during!, allWritten, afterCommit])) assert.ok(got.equals(content));
    assert.equal(blob.readers, 0);
    assert.ok((await store.blobs.read(digest))!.equals(content));
    assert.deepEqual(await readdir(store.layout.tmp), []);
  });

  test('with the size unknown, readers end at the commit', async () => {
    const blob = await incoming(undefined);
    const reader = collect(blob.createReader(store.blobs));
    for (const piece of pieces(300_000)) {
      await blob.append(piece);
      await tick();
    }
    await blob.commit();
    assert.ok((await reader).equals(content));
  });

  test('range readers get exactly their range, whenever they start', async () => {
    const blob = await incoming();
    const ranges = [
      { start: 0, end: 0 },
      { start: 5, end: 99_999 },
      { start: 99_999, end: 100_001 },
      { start: 500_000, end: content.length - 1 },
      { start: content.length - 1, end: content.length - 1 },
    ];
    const early = ranges.map((r) => collect(blob.createReader(store.blobs, r)));
    const all = pieces();
    for (const piece of all.slice(0, 3)) await blob.append(piece);
    const mid = ranges.map((r) => collect(blob.createReader(store.blobs, r)));
    for (const piece of all.slice(3)) await blob.append(piece);
    await blob.commit();
    const late = ranges.map((r) => collect(blob.createReader(store.blobs, r)));
    for (const group of [early, mid, late]) {
      const got = await Promise.all(group);
      got.forEach((buffer, i) => assert.ok(buffer.equals(content.subarray(ranges[i]!.start, ranges[i]!.end + 1)), `range ${JSON.stringify(ranges[i])}`));
    }
  });

  test('a failed blob errors every reader with its error, and stores nothing', async () => {
    const blob = await incoming();
    const failure = new Error('the seed went away');
    const readers = [blob.createReader(store.blobs), blob.createReader(store.blobs, { start: 200_000, end: 300_000 })];
    const results = readers.map((r) => collect(r).then(() => 'ended', (e: unknown) => e));
    await blob.append(content.subarray(0, 100_000));
    await tick();
    await blob.fail(failure);
    for (const result of await Promise.all(results)) assert.equal(result, failure);
    await assert.rejects(blob.done(), (e: unknown) => e === failure);
    // a reader that comes after the failure fails the same way; it must not end cleanly
    const late = await collect(blob.createReader(store.blobs)).then(() => 'ended', (e: unknown) => e);
    assert.equal(late, failure);
    assert.equal(blob.readers, 0);
    assert.equal(await store.blobs.stat(digest), undefined);
    assert.deepEqual(await readdir(store.layout.tmp), []);
  });

  test('bytes that do not match the digest: commit fails, readers error, nothing is stored', async () => {
    const wrong = digestOf('something else');
    const blob = await incoming(content.length, wrong);
    const reader = collect(blob.createReader(store.blobs)).then(() => 'ended', (e: unknown) => e);
    for (const piece of pieces()) await blob.append(piece);
    await assert.rejects(blob.commit(), (e: unknown) => e instanceof OciError && e.code === 'DIGEST_INVALID');
    assert.equal(blob.state, 'failed');
    const result = await reader;
    // the reader may have read every byte before the verdict, but must not end as if all was well
    assert.ok(result instanceof OciError && result.code === 'DIGEST_INVALID', String(result));
    assert.equal(await store.blobs.stat(wrong), undefined);
    assert.equal(await store.blobs.stat(digest), undefined);
  });

  test('a whole-blob reader gets the final byte and its end only after verification; a mid-range reader need not wait', async () => {
    const blob = await incoming();
    const received: Buffer[] = [];
    let ended = false;
    const reader = blob.createReader(store.blobs);
    reader.on('data', (chunk: Buffer) => received.push(chunk));
    reader.on('end', () => {
      ended = true;
    });
    const middle = collect(blob.createReader(store.blobs, { start: 10, end: 20 }));
    for (const piece of pieces()) await blob.append(piece);
    for (let i = 0; i < 20; i += 1) await tick();
    assert.equal(Buffer.concat(received).byteLength, content.length - 1);
    assert.equal(ended, false);
    assert.ok((await middle).equals(content.subarray(10, 21)));
    await blob.commit();
    await new Promise((resolve) => reader.once('close', resolve));
    assert.equal(ended, true);
    assert.ok(Buffer.concat(received).equals(content));
  });

  test('a reader destroyed early is released and does not disturb the others', async () => {
    const blob = await incoming();
    const quitter = blob.createReader(store.blobs);
    const stayer = collect(blob.createReader(store.blobs));
    assert.equal(blob.readers, 2);
    await blob.append(content.subarray(0, 10));
    quitter.destroy();
    await tick();
    assert.equal(blob.readers, 1);
    for (const piece of pieces()) {
      if (piece.byteOffset === 0) {
        await blob.append(piece.subarray(10));
        continue;
      }
      await blob.append(piece);
    }
    await blob.commit();
    assert.ok((await stayer).equals(content));
    assert.equal(blob.readers, 0);
  });
});
