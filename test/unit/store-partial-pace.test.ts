// Writes that run far ahead of an arriving blob's one client wait for it (store/reader-pace.ts):
// the bytes it takes next are then still in memory, not read back from the file. Peers' readers
// and crowds pace nothing, a client that stops taking stops the pacing for good, and one waiting
// for bytes holds no write back for long.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runTransfer, type TransferHooks } from '../../src/distribute/piece-run.ts';
import { startTiming } from '../../src/distribute/piece-transfers.ts';
import { digestOf } from '../../src/oci/index.ts';
import type { PartialBlob } from '../../src/store/index.ts';
import { PACE_AHEAD_BYTES, PACE_STALL_MS } from '../../src/store/reader-pace.ts';
import { handedOver } from '../helpers/handed-over.ts';
import { tempStorePerTest, type TempStore } from '../helpers/temp-store.ts';

const MiB = 1024 * 1024;
const CHUNK = 512 * 1024;

/** Takes one chunk from a paused (or new) reader and pauses it again. */
function takeOne(reader: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    reader.once('error', reject);
    reader.once('data', (chunk: Buffer) => {
      reader.pause();
      resolve(Buffer.from(chunk));
    });
    reader.resume();
  });
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true));
  await sleep(ms);
  return settled;
}

/** An 8 MiB blob with its first `written` bytes present, and a client's reader that took one chunk. */
async function clientBehind(temp: TempStore, content: Buffer, written: number): Promise<{ blob: PartialBlob; reader: Readable; at: number }> {
  const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, MiB);
  await writeChunks(blob, content, 0, written);
  const reader = blob.createReader(temp.store.blobs.path(blob.digest));
  const first = await takeOne(reader);
  return { blob, reader, at: first.byteLength };
}

/** A transfer of the whole blob from a peer that sends `content` as fast as it is read (and ignores aborts). */
/** The transfer's failure (undefined: it ran to its end). */
async function transferAll(blob: PartialBlob, content: Buffer, controller: AbortController): Promise<Awaited<ReturnType<typeof runTransfer>>['failure']> {
  const source = {
    id: 'peer-1',
    kind: 'holder' as const,
    open: async ({ start, end }: { start: number; end: number }) => {
      const chunks: Buffer[] = [];
      for (let at = start; at <= end; at += CHUNK) chunks.push(handedOver(content.subarray(at, Math.min(at + CHUNK, end + 1))));
      return Readable.from(chunks, { objectMode: false });
    },
  };
  const hooks: TransferHooks = { counted: () => undefined, pieceDone: () => undefined, seedContinues: () => true, arriving: () => undefined, announce: () => undefined, ended: () => undefined };
  const pieces = Array.from({ length: blob.pieceCount }, (_, i) => i);
  return (await runTransfer(blob, { source, pieces, demanded: false, from: undefined, controller, timing: startTiming() }, [], hooks)).failure;
}

async function writeChunks(blob: PartialBlob, content: Buffer, from: number, to: number): Promise<void> {
  for (let at = from; at < to; at += CHUNK) await blob.write(at, handedOver(content.subarray(at, at + CHUNK)));
}

describe('PartialBlob.pace: writes far ahead of a lone client wait for it', () => {
  const temp = tempStorePerTest('shoal-pace-');

  test('a write far ahead of the client waits until it takes bytes; one near it goes on', async () => {
    const { blob, reader, at } = await clientBehind(temp, randomBytes(8 * MiB), 3 * MiB);
    assert.equal(blob.pace(at + PACE_AHEAD_BYTES - 1), undefined, 'near the client: no wait');
    const far = blob.pace(3 * MiB);
    assert.ok(far, 'far ahead of a client with bytes to take: the write waits');
    assert.equal(await settlesWithin(far, 100), false, 'still waiting while the client takes nothing');
    await takeOne(reader);
    assert.equal(await settlesWithin(far, 100), true, 'the client moved: the write looks again');
    reader.destroy();
    assert.equal(blob.pace(3 * MiB), undefined, 'no reader: nothing waits');
    await blob.fail(new Error('test over'));
  });

  test("a peer's reader and two readers pace nothing", async () => {
    const content = randomBytes(8 * MiB);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, MiB);
    await writeChunks(blob, content, 0, 3 * MiB);
    const peer = blob.createReader(temp.store.blobs.path(blob.digest), undefined, { holdBackUnverified: false });
    await takeOne(peer);
    assert.equal(blob.pace(3 * MiB), undefined, 'a peer verifies for itself and reads a piece: it paces nothing');
    const client = blob.createReader(temp.store.blobs.path(blob.digest));
    await takeOne(client);
    assert.equal(blob.pace(3 * MiB), undefined, 'two readers: nothing waits');
    peer.destroy();
    client.destroy();
    await blob.fail(new Error('test over'));
  });

  test('a client that takes nothing stops the pacing for good', async () => {
    const { blob, reader } = await clientBehind(temp, randomBytes(8 * MiB), 3 * MiB);
    const far = blob.pace(3 * MiB);
    assert.ok(far);
    assert.equal(await settlesWithin(far, PACE_STALL_MS + 2_000), true, 'released once the client stalled');
    await takeOne(reader);
    assert.equal(blob.pace(3 * MiB), undefined, 'and not paced again once it moves');
    reader.destroy();
    await blob.fail(new Error('test over'));
  });

  test('a client waiting for bytes holds nothing back, and paces again once it has bytes to take', async () => {
    const content = randomBytes(8 * MiB);
    const { blob, reader } = await clientBehind(temp, content, 2 * CHUNK);
    const far = blob.pace(4 * MiB);
    assert.ok(far, 'bytes to take: far writes wait');
    await takeOne(reader);
    // Nothing more to take: the reader waits for bytes.
    const waiting = takeOne(reader);
    assert.equal(await settlesWithin(far, 100), true, 'the client waits for bytes: the write goes on');
    assert.equal(blob.pace(4 * MiB), undefined, 'and nothing waits while it does');
    await writeChunks(blob, content, 2 * CHUNK, 4 * CHUNK);
    await waiting;
    assert.ok(blob.pace(4 * MiB), 'it moved, with bytes to take: far writes wait again');
    reader.destroy();
    await blob.fail(new Error('test over'));
  });

  test('a transfer stops writing ahead of a client that takes nothing, then delivers every byte', async () => {
    const content = randomBytes(8 * MiB);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, MiB);
    const reader = blob.createReader(temp.store.blobs.path(blob.digest));
    const received: Buffer[] = [];
    const transfer = transferAll(blob, content, new AbortController());
    received.push(await takeOne(reader));
    // Well before the client counts as stalled, and time enough to write all 8 MiB unpaced.
    await sleep(PACE_STALL_MS / 2);
    assert.ok(blob.received <= received[0]!.byteLength + PACE_AHEAD_BYTES + 2 * CHUNK, `written ${blob.received} bytes ahead of a client at ${received[0]!.byteLength}`);
    reader.on('data', (chunk: Buffer) => received.push(Buffer.from(chunk)));
    reader.resume();
    const ended = new Promise((resolve, reject) => reader.once('end', resolve).once('error', reject));
    assert.equal(await transfer, undefined, 'the transfer ran to its end');
    assert.deepEqual(await blob.commit(), { ok: true });
    await ended;
    assert.ok(Buffer.concat(received).equals(content), 'every byte, in order');
  });

  test('a transfer waiting for the client ends when the engine stops it, writing nothing more', async () => {
    const content = randomBytes(8 * MiB);
    const blob = await temp.store.blobs.createPartial(digestOf(content), content.length, MiB);
    const reader = blob.createReader(temp.store.blobs.path(blob.digest));
    const controller = new AbortController();
    const transfer = transferAll(blob, content, controller);
    await takeOne(reader);
    await sleep(100);
    const written = blob.received;
    controller.abort();
    const result = await transfer;
    assert.ok(result, 'the transfer says it stopped');
    assert.equal(blob.received, written, 'no batch written after the stop');
    reader.destroy();
    await blob.fail(new Error('test over'));
  });
});
