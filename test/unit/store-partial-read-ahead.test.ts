// A partial blob's reader buffers no chunk beyond the one its consumer is writing: in a crowd of
// 600 responses each held a read-ahead chunk too (bench/memory.bench.ts). Only a reader behind its
// writer, while the download budget allows, reads its next chunk from the file meanwhile; that
// chunk is never sent once a piece was reset after it was read. Every byte, in order.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { digestOf } from '../../src/oci/index.ts';
import { tempStorePerTest } from '../helpers/temp-store.ts';

const PIECE = 256 * 1024;

describe('PartialBlob readers: nothing buffered, the next chunk read ahead only when behind', () => {
  const temp = tempStorePerTest('shoal-read-ahead-');

  test('a paused reader buffers no chunk, and a resumed one delivers every byte', async () => {
    const content = randomBytes(4 * PIECE);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, PIECE);
    // A buffer that is not handed over: readers read the bytes back from the file in pooled chunks.
    await blob.write(0, Buffer.from(content));
    const reader = blob.createReader(temp.store.blobs.path(blob.digest), undefined, { holdBackUnverified: false });
    assert.equal(reader.readableHighWaterMark, 0, 'no read-ahead');
    const chunks: Buffer[] = [];
    const first = new Promise<void>((resolve) => {
      reader.once('data', (chunk: Buffer) => {
        reader.pause();
        chunks.push(Buffer.from(chunk));
        resolve();
      });
    });
    await first;
    // Time for a read-ahead to land if there were one.
    await sleep(100);
    assert.equal(reader.readableLength, 0, 'the paused reader holds no chunk beyond the one taken');
    reader.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    reader.resume();
    await new Promise((resolve, reject) => reader.once('end', resolve).once('error', reject));
    assert.ok(Buffer.concat(chunks).equals(content), 'every byte, in order');
    await blob.fail(new Error('test over'));
  });

  test('a chunk read ahead is not sent when a piece was reset after it was read: the rewritten bytes are', async () => {
    const content = randomBytes(4 * PIECE);
    const wrong = Buffer.from(content.subarray(PIECE, 2 * PIECE)).fill(0x5a);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, PIECE);
    await blob.write(0, Buffer.from(content.subarray(0, PIECE)));
    await blob.write(PIECE, wrong);
    const reader = blob.createReader(temp.store.blobs.path(blob.digest), undefined, { holdBackUnverified: false });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve) => {
      reader.once('data', (chunk: Buffer) => {
        reader.pause();
        chunks.push(Buffer.from(chunk));
        resolve();
      });
    });
    // The next chunk (the wrong piece 1) is read ahead meanwhile; then piece 1 fails verification and is written again.
    await sleep(100);
    blob.resetPiece(1);
    await blob.write(PIECE, Buffer.from(content.subarray(PIECE, 2 * PIECE)));
    await blob.write(2 * PIECE, Buffer.from(content.subarray(2 * PIECE)));
    reader.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    reader.resume();
    await new Promise((resolve, reject) => reader.once('end', resolve).once('error', reject));
    assert.ok(Buffer.concat(chunks).equals(content), 'the rewritten piece, not the bytes read ahead before the reset');
    await blob.fail(new Error('test over'));
  });
});
