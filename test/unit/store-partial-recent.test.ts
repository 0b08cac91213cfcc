// How readers of a partial blob are fed on the fast path. Those that keep up take just-written
// chunks from memory instead of the temp file: told apart by changing the temp file behind the
// blob's back after a write (a reader that got the bytes from memory sees what was written, one
// that read the file sees the change). And the held-back last byte goes out once the digest is
// verified, before the commit has made the file durable.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { digestOf } from '../../src/oci/index.ts';
import { Store, type PartialBlob } from '../../src/store/index.ts';
import { handedOver } from '../helpers/handed-over.ts';
import { tempStorePerTest } from '../helpers/temp-store.ts';

const PIECE = 256 * 1024;

/** The first `length` bytes a reader of the blob hands out (without waiting for the rest). */
async function firstBytes(blob: PartialBlob, store: Store, length: number): Promise<Buffer> {
  const reader: Readable = blob.createReader(store.blobs.path(blob.digest), { start: 0, end: length - 1 }, { holdBackUnverified: false });
  const chunks: Buffer[] = [];
  for await (const chunk of reader) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function overwriteFile(path: string, bytes: Buffer): Promise<void> {
  const handle = await open(path, 'r+');
  await handle.write(bytes, 0, bytes.length, 0);
  await handle.close();
}

describe('PartialBlob readers take just-written chunks from memory', () => {
  const temp = tempStorePerTest('shoal-recent-');

  test('a chunk handed over is served as written', async () => {
    const content = randomBytes(4 * PIECE);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, PIECE);
    await blob.write(0, handedOver(content.subarray(0, PIECE)));
    await overwriteFile(blob.tmpPath, Buffer.alloc(PIECE, 7));
    assert.ok((await firstBytes(blob, temp.store, PIECE)).equals(content.subarray(0, PIECE)));
    await blob.fail(new Error('test over'));
  });

  // Two pieces arriving at once, their chunks interleaved: a reader done with the first piece
  // finds the second one's chunks still in memory, although more were written since.
  test('chunks a reader already passed are dropped first', async () => {
    const CHUNK = PIECE / 4;
    const content = randomBytes(4 * PIECE);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, PIECE);
    const chunkAt = (offset: number): Buffer => handedOver(content.subarray(offset, offset + CHUNK));
    for (let i = 0; i < 4; i++) {
      await blob.write(i * CHUNK, chunkAt(i * CHUNK));
      await blob.write(PIECE + i * CHUNK, chunkAt(PIECE + i * CHUNK));
    }
    assert.ok((await firstBytes(blob, temp.store, PIECE)).equals(content.subarray(0, PIECE)));
    await blob.write(2 * PIECE, chunkAt(2 * PIECE));
    await blob.write(2 * PIECE + CHUNK, chunkAt(2 * PIECE + CHUNK));
    // Only bytes from memory are still right after this.
    const handle = await open(blob.tmpPath, 'r+');
    await handle.write(Buffer.alloc(PIECE, 7), 0, PIECE, PIECE);
    await handle.close();
    const reader = blob.createReader(temp.store.blobs.path(blob.digest), { start: PIECE, end: 2 * PIECE - 1 }, { holdBackUnverified: false });
    const chunks: Buffer[] = [];
    for await (const chunk of reader) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(content.subarray(PIECE, 2 * PIECE)));
    await blob.fail(new Error('test over'));
  });

  // A copy per 256 KiB cost a memcpy and twice the socket writes; the view is given back by its
  // sender (send-stream.ts) and the batch reused then, as a copy would have let it be.
  test('a lone reader takes a view of the whole written chunk, not a copy of part of it', async () => {
    const BATCH = 512 * 1024;
    const content = randomBytes(2 * BATCH);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, BATCH);
    const written = handedOver(content.subarray(0, BATCH));
    await blob.write(0, written);
    const reader = blob.createReader(temp.store.blobs.path(blob.digest));
    const chunk = await new Promise<Buffer>((resolve, reject) => reader.once('data', resolve).once('error', reject));
    assert.equal(chunk.buffer, written.buffer, 'a view of the written chunk');
    assert.equal(chunk.byteLength, BATCH, 'all of it at once');
    assert.ok(chunk.equals(content.subarray(0, BATCH)));
    reader.destroy();
    await blob.fail(new Error('test over'));
  });

  test('a buffer not handed over (its owner may refill it) is read back from the file', async () => {
    const content = randomBytes(4 * PIECE);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, PIECE);
    const chunk = Buffer.from(content.subarray(0, PIECE));
    await blob.write(0, chunk);
    chunk.fill(9); // reused by its owner
    assert.ok((await firstBytes(blob, temp.store, PIECE)).equals(content.subarray(0, PIECE)));
    await blob.fail(new Error('test over'));
  });

  test('a reset piece is no longer served from memory', async () => {
    const content = randomBytes(4 * PIECE);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, PIECE);
    await blob.write(0, handedOver(content.subarray(0, PIECE)));
    blob.resetPiece(0);
    const again = randomBytes(PIECE);
    await blob.write(0, again); // not handed over: the file holds the only copy
    assert.ok((await firstBytes(blob, temp.store, PIECE)).equals(again));
    await blob.fail(new Error('test over'));
  });

  // Told apart by a commit that cannot finish: a file stands where the blob's folder must go.
  test('the held-back last byte goes out once verified, even when making the file durable then fails', async () => {
    const content = randomBytes(2 * PIECE);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, PIECE);
    const held = blob.createReader(temp.store.blobs.path(blob.digest), undefined, { holdBackUnverified: true });
    const chunks: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      held.on('data', (chunk: Buffer) => chunks.push(chunk));
      held.once('end', resolve);
      held.once('error', reject);
    });
    await blob.write(0, content);
    const folder = dirname(temp.store.layout.blobData(blob.digest));
    await mkdir(dirname(folder), { recursive: true });
    await writeFile(folder, 'in the way');
    await assert.rejects(blob.commit());
    // Without the release the reader would wait for a commit that never comes (until its idle timeout).
    let timer: NodeJS.Timeout | undefined;
    const never = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the last byte was never sent')), 15_000);
    });
    await Promise.race([ended, never]).finally(() => clearTimeout(timer));
    assert.ok(Buffer.concat(chunks).equals(content));
    await blob.fail(new Error('test over'));
  });
});
