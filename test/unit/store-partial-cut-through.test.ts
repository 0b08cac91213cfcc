// A client's reader sends the bytes of a write still on its way to the file (as a proxy would),
// instead of waiting for its trip through the thread pool (store/in-flight-chunks.ts). Peers get
// only bytes that landed, and a client that took bytes of a write that then failed breaks off.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { digestOf } from '../../src/oci/index.ts';
import { Store, type PartialBlob } from '../../src/store/index.ts';
import { stopHashWorker } from '../../src/store/prefix-hasher.ts';
import { handedOver } from '../helpers/handed-over.ts';
import { tempStorePerTest } from '../helpers/temp-store.ts';

const run = promisify(execFile);
const KiB = 1024;

/** The next chunk `reader` hands out, and how many bytes of the blob were recorded as present then. */
function nextChunk(reader: Readable, blob: PartialBlob): Promise<{ chunk: Buffer; presentThen: number }> {
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      reader.off('error', reject);
      reader.pause();
      resolve({ chunk, presentThen: blob.availableFrom(0) });
    };
    reader.once('data', onData).once('error', reject);
    reader.resume();
  });
}

describe('PartialBlob: a client reader takes bytes still landing', () => {
  const temp = tempStorePerTest('shoal-cut-through-');

  test('a client reader gets a handed-over chunk before its write is recorded; a peer reader only after', async () => {
    const content = randomBytes(1024 * KiB);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, 512 * KiB);
    const client = blob.createReader(temp.store.blobs.path(blob.digest), undefined, { holdBackUnverified: true });
    const peer = blob.createReader(temp.store.blobs.path(blob.digest), { start: 0, end: 256 * KiB - 1 }, { holdBackUnverified: false });
    // Both readers have opened the file and wait for bytes.
    await blob.write(0, handedOver(content.subarray(0, 64 * KiB)));
    assert.ok((await nextChunk(client, blob)).chunk.equals(content.subarray(0, 64 * KiB)));
    const peerFirst = nextChunk(peer, blob);
    assert.ok((await peerFirst).chunk.equals(content.subarray(0, 64 * KiB)));

    const clientNext = nextChunk(client, blob);
    const peerNext = nextChunk(peer, blob);
    const write = blob.write(64 * KiB, handedOver(content.subarray(64 * KiB, 256 * KiB)));
    const got = await clientNext;
    assert.ok(got.chunk.equals(content.subarray(64 * KiB, 256 * KiB)), 'the client got the chunk as written');
    assert.equal(got.presentThen, 64 * KiB, 'before the write was recorded');
    const peerGot = await peerNext;
    assert.ok(peerGot.chunk.equals(content.subarray(64 * KiB, 256 * KiB)));
    assert.equal(peerGot.presentThen, 256 * KiB, 'the peer only once it was');
    await write;
    peer.destroy();

    // The rest, and the held-back last byte once verified.
    const rest = (async () => {
      const chunks: Buffer[] = [];
      client.resume();
      for await (const chunk of client) chunks.push(Buffer.from(chunk as Buffer));
      return Buffer.concat(chunks);
    })();
    await blob.write(256 * KiB, handedOver(content.subarray(256 * KiB)));
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.ok((await rest).equals(content.subarray(256 * KiB)));
  });

  test('a buffer not handed over (its owner may refill it) is not sent before it landed', async () => {
    const content = randomBytes(512 * KiB);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, 512 * KiB);
    const client = blob.createReader(temp.store.blobs.path(blob.digest), undefined, { holdBackUnverified: true });
    await blob.write(0, handedOver(content.subarray(0, 64 * KiB)));
    await nextChunk(client, blob);
    const next = nextChunk(client, blob);
    const write = blob.write(64 * KiB, Buffer.from(content.subarray(64 * KiB, 128 * KiB)));
    assert.equal((await next).presentThen, 128 * KiB);
    await write;
    client.destroy();
    await blob.fail(new Error('test over'));
  });
});

// A real failed write: the blob's file on a small tmpfs (mounting needs root, as CI has).
describe('PartialBlob: a write a client took bytes of fails', () => {
  test('the client breaks off instead of ending cleanly once the bytes are written again', async () => {
    const mountPoint = await mkdtemp(join(tmpdir(), 'shoal-cut-through-tmpfs-'));
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
    } catch (error) {
      await rm(mountPoint, { recursive: true, force: true });
      throw new Error(`this test mounts a tmpfs and needs root (as CI runs it): ${(error as Error).message}`);
    }
    try {
      const { store } = await Store.open(mountPoint);
      const content = randomBytes(2048 * KiB);
      const blob = await store.blobs.createPartial(digestOf(content), content.length, content.length);
      const client = blob.createReader(store.blobs.path(blob.digest), undefined, { holdBackUnverified: true });
      await blob.write(0, handedOver(content.subarray(0, 64 * KiB)));
      await nextChunk(client, blob);
      // More than the file system holds: the client takes its first bytes while it is in flight.
      const taken = nextChunk(client, blob);
      const tooLarge = blob.write(64 * KiB, handedOver(content.subarray(64 * KiB, 2048 * KiB)));
      assert.equal((await taken).presentThen, 64 * KiB, 'taken while in flight');
      await assert.rejects(tooLarge, /ENOSPC|no space/i);
      const ended = new Promise<unknown>((resolve) => {
        client.once('error', resolve).once('end', () => resolve('ended cleanly'));
        client.resume();
      });
      const broken = await ended;
      assert.ok(broken instanceof Error && /never reached the disk/.test(broken.message), `the client did not break off: ${String(broken)}`);
      await blob.fail(new Error('test over'));
    } finally {
      await stopHashWorker();
      await run('umount', [mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });
});
