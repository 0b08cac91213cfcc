// Write batches are reused once nobody holds them, and never while a blob keeps them for its
// readers or a sender still has a view of one: a reader that takes just-written bytes from memory
// still gets them as written after later batches were taken and filled.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { coalesce, SLOW_CHUNK_GAP_MS } from '../../src/distribute/coalesce.ts';
import { giveChunk } from '../../src/lib/download-budget.ts';
import { digestOf } from '../../src/oci/index.ts';
import { Store, type PartialBlob } from '../../src/store/index.ts';
import { FREE_LIMIT, freeBatches, receiveRoom, releaseBatch, retainBatch, takeBatch } from '../../src/store/write-batches.ts';
import { tempStorePerTest } from '../helpers/temp-store.ts';

const PIECE = 256 * 1024;
/** A size no other test takes batches of, so the free list counts only this file's. */
const BATCH = 64 * 1024 + 512;

async function* chunksOf(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield Buffer.from(bytes.subarray(at, at + size));
}

async function firstBytes(blob: PartialBlob, store: Store, length: number): Promise<Buffer> {
  const reader: Readable = blob.createReader(store.blobs.path(blob.digest), { start: 0, end: length - 1 }, { holdBackUnverified: false });
  const chunks: Buffer[] = [];
  for await (const chunk of reader) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  // As a sender does once it wrote them (send-stream.ts): views of kept batches go back.
  for (const chunk of chunks) giveChunk(chunk);
  return bytes;
}

describe('write batches', () => {
  const temp = tempStorePerTest('shoal-batches-');

  test('coalesce joins chunks into whole batches and a released batch is taken again', async () => {
    const bytes = randomBytes(3 * BATCH + 100);
    const batches: Buffer[] = [];
    for await (const batch of coalesce(chunksOf(bytes, 1000), BATCH)) {
      batches.push(Buffer.from(batch));
      releaseBatch(batch);
    }
    assert.deepEqual(batches.map((b) => b.length), [BATCH, BATCH, BATCH, 100]);
    assert.ok(Buffer.concat(batches).equals(bytes));
    assert.ok(freeBatches(BATCH) >= 1, 'released batches go back to the free list');
    const before = freeBatches(BATCH);
    releaseBatch(takeBatch(BATCH));
    assert.equal(freeBatches(BATCH), before, 'a batch is taken from the free list, then put back');
  });

  test('coalesce writes what it gathered at once when the next chunk comes late: a slow source\'s readers are not kept waiting for a whole batch', async () => {
    const bytes = randomBytes(5 * 1000);
    let seen: () => void = () => undefined;
    const yielded = new Promise<void>((resolve) => (seen = resolve));
    let ended = false;
    async function* slowSource(): AsyncGenerator<Buffer> {
      for (let at = 0; at < 4000; at += 1000) yield Buffer.from(bytes.subarray(at, at + 1000));
      await sleep(SLOW_CHUNK_GAP_MS + 100);
      yield Buffer.from(bytes.subarray(4000, 5000));
      // The source goes on only once the consumer has the gathered bytes: not at its end.
      await Promise.race([yielded, sleep(5_000)]);
      ended = true;
    }
    const batches: Buffer[] = [];
    for await (const batch of coalesce(slowSource(), BATCH)) {
      batches.push(Buffer.from(batch));
      releaseBatch(batch);
      assert.equal(ended, false, 'the gathered bytes came before the source ended');
      seen();
    }
    assert.deepEqual(batches.map((b) => b.length), [5000]);
    assert.ok(Buffer.concat(batches).equals(bytes));
  });

  test('a batch a blob keeps for its readers is not reused until the blob drops it', async () => {
    const content = randomBytes(4 * PIECE);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, PIECE);
    const batch = takeBatch(PIECE);
    content.copy(batch, 0, 0, PIECE);
    await blob.write(0, batch);
    releaseBatch(batch); // the transfer is done with it; the blob still keeps it
    const reused = takeBatch(PIECE);
    assert.notEqual(reused.buffer, batch.buffer, 'a kept batch was handed out again');
    reused.fill(9);
    // The file changed behind the blob's back: only bytes from memory are still right.
    const file = await open(blob.tmpPath, 'r+');
    await file.write(Buffer.alloc(PIECE, 7), 0, PIECE, 0);
    await file.close();
    assert.ok((await firstBytes(blob, temp.store, PIECE)).equals(content.subarray(0, PIECE)));
    await blob.fail(new Error('test over'));
    // Dropped with the blob's recent chunks: free again.
    const again = takeBatch(PIECE);
    assert.equal(again.buffer, batch.buffer);
    releaseBatch(again);
    releaseBatch(reused);
  });

  test('readers sharing a blob get views of a kept batch, reused only once every sender gave its view back', async () => {
    const content = randomBytes(4 * PIECE);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, PIECE);
    const range = { start: 0, end: PIECE - 1 };
    const readers = [0, 1].map(() => blob.createReader(temp.store.blobs.path(blob.digest), range, { holdBackUnverified: false }));
    const batch = takeBatch(PIECE);
    content.copy(batch, 0, 0, PIECE);
    await blob.write(0, batch);
    releaseBatch(batch);
    // The first reads while both are attached; the second, alone by then, gets a view too.
    const sent: Buffer[][] = [];
    for (const reader of readers) {
      const chunks: Buffer[] = [];
      for await (const chunk of reader) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(content.subarray(0, PIECE)));
      sent.push(chunks);
    }
    assert.ok(sent[0]![0]!.buffer === batch.buffer, 'a reader sharing the blob sends the kept bytes as they are');
    assert.ok(sent[1]![0]!.buffer === batch.buffer, 'so does a reader alone');
    giveChunk(sent[1]![0]!);
    await blob.fail(new Error('test over'));
    const next = takeBatch(PIECE);
    assert.notEqual(next.buffer, batch.buffer, 'a batch readers may still hold views of was reused');
    releaseBatch(next);
    // The sender wrote the view and gives it back to the download pool, which hands it on here.
    giveChunk(sent[0]![0]!);
    const reused = takeBatch(PIECE);
    assert.equal(reused.buffer, batch.buffer, 'the batch is reused once its last view came back, not left as garbage');
    releaseBatch(reused);
  });

  test('a batch the free list has no room for is freed at once, not left to the garbage collector', () => {
    const size = 4096 + 7;
    const batches = Array.from({ length: FREE_LIMIT + 1 }, () => takeBatch(size));
    for (const batch of batches) releaseBatch(batch);
    assert.equal(freeBatches(size), FREE_LIMIT);
    const last = batches.at(-1)!;
    assert.equal(last.buffer.byteLength, 0, 'its memory was given back (the ArrayBuffer detached)');
    assert.ok(batches.slice(0, FREE_LIMIT).every((batch) => batch.buffer.byteLength === size), 'the kept ones are whole');
    for (let i = 0; i < FREE_LIMIT; i++) takeBatch(size);
  });

  test('free batches dropped once the node is idle give their memory back at once', async () => {
    const size = 4096 + 9;
    const batch = takeBatch(size);
    releaseBatch(batch);
    assert.equal(freeBatches(size), 1);
    // Dropped after 5-10 s without a take (IDLE_DROP_MS, checked on a timer).
    for (let waited = 0; freeBatches(size) > 0 && waited < 15_000; waited += 100) await sleep(100);
    assert.equal(freeBatches(size), 0, 'the idle node keeps no free batch');
    assert.equal(batch.buffer.byteLength, 0, 'its memory was given back (the ArrayBuffer detached), not left to the collector');
  });

  test('a batch counts in the receive room from its take until its first release, not while a blob keeps it', () => {
    const before = receiveRoom.used;
    const batch = takeBatch(BATCH);
    assert.equal(receiveRoom.used, before + BATCH, 'the body filling it counts');
    // Kept for readers (a recent chunk) before the transfer that filled it lets go: once written,
    // it no longer counts against the transfers, whoever still holds it.
    retainBatch(batch);
    releaseBatch(batch);
    assert.equal(receiveRoom.used, before);
    releaseBatch(batch);
    assert.equal(receiveRoom.used, before);
    const again = takeBatch(BATCH);
    assert.equal(receiveRoom.used, before + BATCH, 'a reused batch counts again');
    releaseBatch(again);
    assert.equal(receiveRoom.used, before);
  });
});
