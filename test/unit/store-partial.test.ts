import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { afterEach, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { digestOf, type ByteRange, type Digest } from '../../src/oci/index.ts';
import { Store, type PartialBlob, type ReaderOptions } from '../../src/store/index.ts';
import type { ReaderHooks } from '../../src/store/partial-reader.ts';
import { eventually } from '../helpers/eventually.ts';
import { blobScenario } from '../helpers/blob-scenario.ts';
import { partialsDir } from '../../src/store/kept-partial.ts';

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function pieceOf(content: Buffer, pieceSize: number, index: number): Buffer {
  return content.subarray(index * pieceSize, Math.min(content.length, (index + 1) * pieceSize));
}

/** Writes one piece, in sub-chunks of `chunk` bytes, each continuing the last. */
async function writePiece(blob: PartialBlob, content: Buffer, index: number, chunk = Infinity): Promise<void> {
  const bytes = pieceOf(content, blob.pieceSize, index);
  const start = blob.pieceStart(index);
  for (let done = 0; done < bytes.length; ) {
    const part = bytes.subarray(done, Math.min(bytes.length, done + chunk));
    await blob.write(start + done, part);
    done += part.length;
  }
}

interface Collected {
  readonly bytes: () => Buffer;
  readonly received: () => number;
  readonly ended: () => boolean;
  readonly finished: Promise<Buffer>;
}

/** Collects a reader's bytes as they come; `ended` tells whether it ended cleanly, `finished` how. */
function watch(stream: Readable): Collected {
  const chunks: Buffer[] = [];
  let received = 0;
  let ended = false;
  const finished = new Promise<Buffer>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    stream.once('end', () => {
      ended = true;
      resolve(Buffer.concat(chunks));
    });
    stream.once('error', reject);
  });
  finished.catch(() => undefined); // asserted by the tests that expect a failure
  return { bytes: () => Buffer.concat(chunks), received: () => received, ended: () => ended, finished };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const outcome = (stream: Readable): Promise<Buffer | Error> => readAll(stream).catch((error: unknown) => error as Error);

describe('PartialBlob: pieces, verification, commit', () => {
  let dir: string;
  let store: Store;
  let committed: Array<{ digest: string; size: number }>;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-partial-'));
    ({ store } = await Store.open(dir));
    committed = [];
    store.blobs.onCommitted((digest, size) => committed.push({ digest: digest.value, size }));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  // Partial blobs live in shoal/partials (kept across a crash): neither place may keep anything after a commit or failure.
  const tmpFiles = async (): Promise<string[]> => [...await readdir(store.layout.tmp), ...await readdir(partialsDir(store.layout)).catch(() => [])];
  const create = (content: Buffer, pieceSize: number, digest: Digest = digestOf(content)): Promise<PartialBlob> => store.blobs.createPartial(digest, content.length, pieceSize);
  const reader = (blob: PartialBlob, range?: ByteRange, options?: ReaderOptions): Readable => blob.createReader(store.blobs.path(blob.digest), range, options);

  async function assertStored(content: Buffer): Promise<void> {
    const digest = digestOf(content);
    assert.ok((await readFile(store.layout.blobData(digest))).equals(content), 'the stored file equals the content');
    assert.equal(await store.blobs.stat(digest), content.length);
    assert.ok(store.layout.blobData(digest).endsWith(join('docker', 'registry', 'v2', 'blobs', 'sha256', digest.hex.slice(0, 2), digest.hex, 'data')));
    assert.deepEqual(await tmpFiles(), [], 'no temp file is left');
  }

  test('geometry: piece count, lengths, starts; invalid sizes are refused', async () => {
    const content = randomBytes(10_500);
    const blob = await create(content, 1000);
    assert.equal(blob.pieceCount, 11);
    assert.equal(blob.pieceStart(10), 10_000);
    assert.equal(blob.pieceLength(0), 1000);
    assert.equal(blob.pieceLength(10), 500);
    assert.equal(blob.isComplete, false);
    assert.equal(blob.state, 'writing');
    assert.deepEqual(blob.completePieces(), []);
    await blob.fail(new Error('done with it'));
    await assert.rejects(store.blobs.createPartial(digestOf(content), -1, 1000), RangeError);
    await assert.rejects(store.blobs.createPartial(digestOf(content), 1.5, 1000), RangeError);
    await assert.rejects(store.blobs.createPartial(digestOf(content), 10, 0), RangeError);
    assert.deepEqual(await tmpFiles(), []);
  });

  test('pieces written in order, in sub-chunks: commit verifies and the blob lands under its digest', async () => {
    const content = randomBytes(1_000_000);
    const blob = await create(content, 64 * 1024);
    for (let i = 0; i < blob.pieceCount; i++) await writePiece(blob, content, i, 10_000);
    assert.equal(blob.isComplete, true);
    assert.equal(blob.received, content.length);
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.equal(blob.state, 'committed');
    await blob.done();
    await assertStored(content);
    assert.deepEqual(committed, [{ digest: digestOf(content).value, size: content.length }]);
  });

  test('pieces written in reverse order: the hash catches up from the file and commit verifies', async () => {
    const content = randomBytes(777_777);
    const blob = await create(content, 100_000);
    for (let i = blob.pieceCount - 1; i >= 0; i--) {
      await writePiece(blob, content, i, 30_000);
      assert.equal(blob.availableFrom(0), i === 0 ? content.length : 0);
    }
    assert.deepEqual(await blob.commit(), { ok: true });
    await assertStored(content);
  });

  test('append writes one sequential stream across piece boundaries', async () => {
    const content = randomBytes(250_000);
    const blob = await create(content, 40_000);
    for (let i = 0; i < content.length; i += 33_333) await blob.append(content.subarray(i, i + 33_333));
    assert.deepEqual(await blob.commit(), { ok: true });
    await assertStored(content);
  });

  test('property: any piece size, any order, any sub-chunking, pieces written concurrently → commit ok, stored bytes equal, readers exact', async () => {
    const scenario = blobScenario({ maxSize: 300_000, pieceSize: [1_000, 120_000], chunk: [500, 150_000], maxParallel: 4 }, () => ({}));
    await fc.assert(
      fc.asyncProperty(scenario, async ({ s, order, parallel, range }) => {
        const content = randomBytes(s.size);
        const blob = await create(content, s.pieceSize);
        const early = watch(reader(blob, undefined, { holdBackUnverified: false }));
        const earlyRange = watch(reader(blob, range));
        const queue = [...order];
        await Promise.all(
          Array.from({ length: parallel }, async () => {
            for (let index = queue.shift(); index !== undefined; index = queue.shift()) await writePiece(blob, content, index, s.chunk);
          }),
        );
        assert.equal(blob.isComplete, true);
        const during = watch(reader(blob));
        assert.deepEqual(await blob.commit(), { ok: true });
        assert.ok((await early.finished).equals(content));
        assert.ok((await earlyRange.finished).equals(content.subarray(range.start, range.end + 1)));
        assert.ok((await during.finished).equals(content));
        assert.ok((await readAll(reader(blob, range))).equals(content.subarray(range.start, range.end + 1)), 'reader after commit');
        assert.ok((await readFile(store.layout.blobData(blob.digest))).equals(content));
        assert.deepEqual(await tmpFiles(), []);
        await store.blobs.delete(blob.digest);
      }),
      { numRuns: 40 },
    );
  });

  for (const where of ['first', 'middle', 'last'] as const) {
    test(`a corrupt ${where} piece: commit returns ok:false and keeps the bytes; resetPiece and a rewrite → commit ok`, async () => {
      const content = randomBytes(500_000);
      const blob = await create(content, 64 * 1024);
      const bad = where === 'first' ? 0 : where === 'middle' ? 3 : blob.pieceCount - 1;
      const corrupt = Buffer.from(content);
      corrupt[blob.pieceStart(bad) + 7]! ^= 0xff;
      for (let i = 0; i < blob.pieceCount; i++) await writePiece(blob, i === bad ? corrupt : content, i);
      const result = await blob.commit();
      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.actual, digestOf(corrupt).value);
      assert.equal(blob.state, 'writing');
      assert.equal(await store.blobs.stat(blob.digest), undefined, 'nothing under the digest');
      assert.equal(await exists(blob.tmpPath), true, 'bytes kept for repair');
      assert.ok((await blob.readRange(blob.pieceStart(bad), blob.pieceLength(bad))).equals(pieceOf(corrupt, blob.pieceSize, bad)));

      blob.resetPiece(bad);
      assert.equal(blob.isComplete, false);
      assert.equal(blob.pieceFilled(bad), 0);
      await assert.rejects(blob.commit(), /not complete/);
      await writePiece(blob, content, bad, 10_000);
      assert.deepEqual(await blob.commit(), { ok: true });
      await assertStored(content);
      assert.equal(committed.length, 1);
    });
  }

  test('resetPiece while the hash is still catching up over that piece: the old bytes are never counted', async () => {
    // Pieces 1.. arrive first; piece 0 then completes the prefix and the hash catches up by
    // reading pieces 1.. back from the file. A reset of piece 1 in that window (a repair) must
    // not leave the old piece-1 bytes in the hash: rewritten wrong bytes would then verify.
    const content = randomBytes(400_000);
    const wrong = randomBytes(content.length);
    for (const [first, then, expectOk] of [[wrong, content, true], [content, wrong, false]] as const) {
      const blob = await create(content, 100_000);
      for (let i = 1; i < blob.pieceCount; i++) await writePiece(blob, first, i);
      await writePiece(blob, first, 0);
      blob.resetPiece(1); // synchronously after the write: the catch-up read of piece 1 is in flight
      await writePiece(blob, then, 1);
      if (first === wrong) {
        for (const i of [0, 2, 3]) {
          blob.resetPiece(i);
          await writePiece(blob, content, i);
        }
      }
      const result = await blob.commit();
      assert.equal(result.ok, expectOk, expectOk ? 'the repaired blob verifies' : 'rewritten wrong bytes must fail verification');
      if (expectOk) {
        await assertStored(content);
        await store.blobs.delete(blob.digest);
      } else {
        assert.equal(await store.blobs.stat(blob.digest), undefined, 'nothing corrupt committed');
        await blob.fail(new Error('discarded'));
      }
    }
  });

  test('a reader destroyed while its file is opening closes it (no handle left to the garbage collector)', async () => {
    const { open } = await import('node:fs/promises');
    const { createPartialReader } = await import('../../src/store/partial-reader.ts');
    const content = randomBytes(64 * 1024);
    const blob = await create(content, 16 * 1024);
    await writePiece(blob, content, 0);
    const opened: FileHandle[] = [];
    let letOpen!: () => void;
    const gate = new Promise<void>((resolve) => (letOpen = resolve));
    const hooks: ReaderHooks = {
      open: async () => {
        await gate;
        const handle = await open(blob.tmpPath, 'r');
        opened.push(handle);
        return handle;
      },
      state: () => ({ kind: 'writing' }),
      resets: () => [],
      wait: async () => false,
      attach: () => undefined,
      detach: () => undefined,
    };
    const r = createPartialReader(blob, hooks, undefined, {});
    r.read(0); // starts the read, which opens the file
    r.destroy();
    letOpen();
    await eventually(() => opened.length === 1, 2_000, 'the open to finish');
    await eventually(() => opened[0]!.fd === -1, 2_000, 'the late handle to be closed');
    await blob.fail(new Error('test over'));
  });

  test('a write that does not continue its piece throws and changes nothing', async () => {
    const content = randomBytes(10_000);
    const blob = await create(content, 1_000);
    // An empty piece starts wherever its first write lands (store-partial-wrap.test.ts).
    await blob.write(3_000, content.subarray(3_000, 3_400));
    await assert.rejects(blob.write(3_000, content.subarray(3_000, 3_400)), /does not continue piece 3/, 'overwriting filled bytes');
    await assert.rejects(blob.write(3_500, content.subarray(3_500, 3_600)), /does not continue piece 3/, 'leaving a gap');
    // Running on into a following piece is allowed only when that piece is still empty.
    await blob.write(4_000, content.subarray(4_000, 4_100));
    await assert.rejects(blob.write(3_400, content.subarray(3_400, 4_200)), /does not continue piece 4/);
    await blob.write(3_400, content.subarray(3_400, 4_000));
    await blob.write(5_000, content.subarray(5_000, 7_500)); // spans pieces 5, 6 and half of 7
    assert.deepEqual(blob.completePieces(), [3, 5, 6]);
    assert.equal(blob.pieceFilled(4), 100);
    assert.equal(blob.pieceFilled(7), 500);
    await blob.write(7_500, content.subarray(7_500, 8_000));
    await assert.rejects(blob.write(7_000, content.subarray(7_000, 7_100)), /does not continue piece 7/, 'a complete piece');
    await blob.fail(new Error('done'));
  });

  test('a write outside the blob throws a RangeError', async () => {
    const content = randomBytes(5_000);
    const blob = await create(content, 1_000);
    await assert.rejects(blob.write(-1, Buffer.alloc(1)), RangeError);
    await assert.rejects(blob.write(4_000, Buffer.alloc(1_001)), RangeError);
    await assert.rejects(blob.write(5_000, Buffer.alloc(1)), RangeError);
    assert.equal(blob.received, 0);
    await blob.fail(new Error('done'));
  });

  test('availableFrom: end of the gapless bytes from a position', async () => {
    const content = randomBytes(5_500);
    const blob = await create(content, 1_000);
    assert.equal(blob.availableFrom(0), 0);
    await blob.write(0, content.subarray(0, 1_000)); // piece 0 complete
    await blob.write(1_000, content.subarray(1_000, 1_400)); // piece 1 partly
    await blob.write(3_000, content.subarray(3_000, 4_000)); // piece 3 complete
    await blob.write(4_000, content.subarray(4_000, 4_200)); // piece 4 partly
    await blob.write(5_000, content.subarray(5_000, 5_500)); // last piece complete
    assert.equal(blob.availableFrom(0), 1_400, 'runs through complete piece 0 into the filled part of piece 1');
    assert.equal(blob.availableFrom(999), 1_400);
    assert.equal(blob.availableFrom(1_200), 1_400);
    assert.equal(blob.availableFrom(1_400), 1_400, 'at the gap: nothing');
    assert.equal(blob.availableFrom(1_500), 1_500, 'inside the gap: nothing');
    assert.equal(blob.availableFrom(2_000), 2_000, 'empty piece');
    assert.equal(blob.availableFrom(3_000), 4_200);
    assert.equal(blob.availableFrom(3_999), 4_200);
    assert.equal(blob.availableFrom(4_300), 4_300);
    assert.equal(blob.availableFrom(5_000), 5_500);
    assert.equal(blob.availableFrom(5_499), 5_500);
    assert.equal(blob.availableFrom(5_500), 5_500, 'at the end');
    assert.equal(blob.availableFrom(9_999), 5_500, 'past the end');
    assert.equal(blob.received, 1_000 + 400 + 1_000 + 200 + 500);
    assert.deepEqual(blob.completePieces(), [0, 3, 5]);
    await blob.fail(new Error('done'));
  });

  test('readers created before, during and after the writes and after commit get exactly the bytes, whole and in ranges', async () => {
    const content = randomBytes(700_000);
    const blob = await create(content, 100_000);
    const ranges: ByteRange[] = [
      { start: 0, end: 0 },
      { start: 99_999, end: 100_000 },
      { start: 123_456, end: 654_321 },
      { start: 650_000, end: 699_999 },
      { start: 699_999, end: 699_999 },
    ];
    const group = (): Collected[] => [watch(reader(blob)), ...ranges.map((r) => watch(reader(blob, r)))];
    const before = group();
    await writePiece(blob, content, 0, 7_000);
    await writePiece(blob, content, 1, 7_000);
    const during = group();
    for (let i = 2; i < blob.pieceCount; i++) await writePiece(blob, content, i, 7_000);
    const after = group();
    assert.deepEqual(await blob.commit(), { ok: true });
    const committedReaders = group();
    for (const [whole, ...parts] of [before, during, after, committedReaders]) {
      assert.ok((await whole!.finished).equals(content));
      for (const [i, part] of parts.entries()) assert.ok((await part.finished).equals(content.subarray(ranges[i]!.start, ranges[i]!.end + 1)), `range ${JSON.stringify(ranges[i])}`);
    }
    await eventually(() => blob.readers === 0, 2_000, 'readers to detach');
  });

  test('pieces out of order: a reader of piece 3 waits until piece 3 arrives; a whole reader stops at the gap', async () => {
    const content = randomBytes(500_000);
    const blob = await create(content, 100_000);
    const piece3 = watch(reader(blob, { start: 300_000, end: 399_999 }, { holdBackUnverified: false }));
    const whole = watch(reader(blob, undefined, { holdBackUnverified: false }));
    for (const i of [4, 1, 0, 2]) await writePiece(blob, content, i);
    await eventually(() => whole.received() === 300_000, 2_000, 'the whole reader to reach the gap');
    await sleep(50);
    assert.equal(piece3.received(), 0, 'no byte of piece 3 before it arrives');
    assert.equal(whole.received(), 300_000, 'the whole reader does not pass the gap');
    assert.equal(piece3.ended(), false);
    await blob.write(300_000, content.subarray(300_000, 350_000));
    await eventually(() => piece3.received() === 50_000, 2_000, 'the first half of piece 3');
    await blob.write(350_000, content.subarray(350_000, 400_000));
    assert.ok((await piece3.finished).equals(content.subarray(300_000, 400_000)));
    assert.ok((await whole.finished).equals(content), 'ends before commit: nothing held back');
    assert.equal(blob.state, 'writing');
    assert.deepEqual(await blob.commit(), { ok: true });
  });

  test('holdBackUnverified (the default): the last byte waits for commit; false delivers everything before it', async () => {
    const content = randomBytes(300_000);
    const blob = await create(content, 100_000);
    const held = watch(reader(blob));
    const heldExplicit = watch(reader(blob, undefined, { holdBackUnverified: true }));
    const tail = watch(reader(blob, { start: 250_000, end: 299_999 }));
    const notTail = watch(reader(blob, { start: 0, end: 299_998 }));
    const free = watch(reader(blob, undefined, { holdBackUnverified: false }));
    for (let i = 0; i < blob.pieceCount; i++) await writePiece(blob, content, i);
    assert.ok((await free.finished).equals(content), 'holdBackUnverified:false ends before commit');
    assert.ok((await notTail.finished).equals(content.subarray(0, 299_999)), 'a range short of the last byte is not held back');
    await eventually(() => held.received() === content.length - 1 && heldExplicit.received() === content.length - 1 && tail.received() === 49_999, 2_000, 'all but the last byte');
    await sleep(100);
    for (const r of [held, heldExplicit, tail]) assert.equal(r.ended(), false, 'no end before commit');
    assert.equal(held.received(), content.length - 1);
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.ok((await held.finished).equals(content));
    assert.ok((await heldExplicit.finished).equals(content));
    assert.ok((await tail.finished).equals(content.subarray(250_000)));
  });

  test('holdBackUnverified: a blob that fails verification and is then failed breaks the reader off short of the end', async () => {
    const content = randomBytes(200_000);
    const corrupt = Buffer.from(content);
    corrupt[5]! ^= 1;
    const blob = await create(content, 100_000);
    const held = watch(reader(blob));
    for (let i = 0; i < blob.pieceCount; i++) await writePiece(blob, corrupt, i);
    assert.equal((await blob.commit()).ok, false);
    await eventually(() => held.received() === content.length - 1, 2_000, 'all but the last byte');
    await blob.fail(new Error('verification failed'));
    await assert.rejects(held.finished, /verification failed/);
    assert.equal(held.received(), content.length - 1, 'the client never gets a complete response');
  });

  test('fail(): every reader errors, a later reader errors, writes are refused, the temp file is removed', async () => {
    const content = randomBytes(300_000);
    const blob = await create(content, 100_000);
    await writePiece(blob, content, 0);
    const waitingWhole = watch(reader(blob));
    const waitingRange = watch(reader(blob, { start: 200_000, end: 250_000 }));
    const waitingFree = watch(reader(blob, undefined, { holdBackUnverified: false }));
    await eventually(() => waitingWhole.received() === 100_000, 2_000, 'piece 0 delivered');
    assert.equal(blob.readers, 3);
    assert.equal(await exists(blob.tmpPath), true);
    const error = new Error('upstream went away');
    const done = blob.done();
    done.catch(() => undefined); // asserted below, after the failure
    await blob.fail(error);
    assert.equal(blob.state, 'failed');
    for (const r of [waitingWhole, waitingRange, waitingFree]) await assert.rejects(r.finished, (e: unknown) => e === error);
    await assert.rejects(done, (e: unknown) => e === error);
    await assert.rejects(blob.done(), (e: unknown) => e === error);
    await assert.rejects(readAll(reader(blob)), (e: unknown) => e === error, 'a reader created after the failure');
    await assert.rejects(blob.write(100_000, content.subarray(100_000, 200_000)), /failed/);
    assert.equal(await exists(blob.tmpPath), false);
    assert.deepEqual(await tmpFiles(), []);
    assert.equal(await store.blobs.stat(blob.digest), undefined);
    await eventually(() => blob.readers === 0, 2_000, 'readers to detach');
    await blob.fail(new Error('again')); // idempotent
    assert.deepEqual(committed, []);
  });

  test('fail() while a write is in flight: the write settles, nothing is left behind', async () => {
    const content = randomBytes(2_000_000);
    const blob = await create(content, 1_000_000);
    const write = blob.write(0, content.subarray(0, 1_000_000));
    await blob.fail(new Error('cancelled'));
    await write.catch(() => undefined);
    assert.equal(blob.isPieceComplete(0), false, 'a write that lands after the failure is not recorded');
    assert.deepEqual(await tmpFiles(), []);
  });

  test('idle timeout: a reader waiting with no new byte errors; one that sees bytes arriving does not', async () => {
    const content = randomBytes(300_000);
    const blob = await create(content, 100_000);
    await writePiece(blob, content, 0);
    const idle = watch(reader(blob, { start: 150_000, end: 160_000 }, { idleTimeoutMs: 60 }));
    const started = Date.now();
    await assert.rejects(idle.finished, /no bytes of sha256:[0-9a-f]{64} arrived for 60 ms/);
    assert.ok(Date.now() - started >= 50);
    await eventually(() => blob.readers === 0, 2_000, 'the timed-out reader to detach');

    const patient = watch(reader(blob, undefined, { idleTimeoutMs: 150, holdBackUnverified: false }));
    for (let i = 1; i < blob.pieceCount; i++) {
      await sleep(80);
      await writePiece(blob, content, i);
    }
    assert.ok((await patient.finished).equals(content));
    await blob.fail(new Error('done'));
  });

  test('readers: counted while open, uncounted when they end or are destroyed', async () => {
    const content = randomBytes(200_000);
    const blob = await create(content, 100_000);
    assert.equal(blob.readers, 0);
    const a = reader(blob);
    const b = reader(blob, { start: 0, end: 10 });
    const c = reader(blob);
    assert.equal(blob.readers, 3);
    c.destroy();
    await eventually(() => blob.readers === 2, 2_000, 'a destroyed reader to detach');
    const bDone = readAll(b);
    const aDone = watch(a);
    await writePiece(blob, content, 0);
    assert.ok((await bDone).equals(content.subarray(0, 11)));
    assert.equal(blob.readers, 1);
    await writePiece(blob, content, 1);
    assert.deepEqual(await blob.commit(), { ok: true });
    await aDone.finished;
    await eventually(() => blob.readers === 0, 2_000, 'the last reader to detach');
  });

  test('a blob of size 0: no pieces, complete at once, readers end empty, commit stores the empty blob', async () => {
    const content = Buffer.alloc(0);
    const blob = await create(content, 1_000);
    assert.equal(blob.pieceCount, 0);
    assert.equal(blob.isComplete, true);
    assert.equal(blob.availableFrom(0), 0);
    assert.equal((await readAll(reader(blob, undefined, { holdBackUnverified: false }))).length, 0);
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.equal((await readAll(reader(blob))).length, 0);
    await assertStored(content);
    assert.deepEqual(committed, [{ digest: digestOf(content).value, size: 0 }]);
  });

  test('a single-piece blob smaller than the piece size', async () => {
    const content = randomBytes(123);
    const blob = await create(content, 4 * 1024 * 1024);
    assert.equal(blob.pieceCount, 1);
    assert.equal(blob.pieceLength(0), 123);
    const r = watch(reader(blob));
    await blob.write(0, content.subarray(0, 100));
    await blob.write(100, content.subarray(100));
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.ok((await r.finished).equals(content));
    await assertStored(content);
  });

  test('onChange fires on writes, resets, verification and commit; the unsubscribe stops it', async () => {
    const content = randomBytes(2_000);
    const blob = await create(content, 1_000);
    let changes = 0;
    const off = blob.onChange(() => void (changes += 1));
    await writePiece(blob, content, 1);
    blob.resetPiece(1);
    await writePiece(blob, content, 1);
    await writePiece(blob, content, 0);
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.equal(changes, 6);
    off();
    assert.equal(blob.readers, 0);
  });
});

describe('PartialBlob: readers of a blob being written (successor of IncomingBlob)', () => {
  let dir: string;
  let store: Store;
  const PIECE = 100_000;
  const content = randomBytes(10 * PIECE + 333);
  const digest = digestOf(content);
  const pieces = (): Array<[number, Buffer]> => {
    const out: Array<[number, Buffer]> = [];
    for (let i = 0; i < content.length; i += PIECE) out.push([i, content.subarray(i, i + PIECE)]);
    return out;
  };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-store-partial-'));
    ({ store } = await Store.open(dir));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const partial = (d: Digest = digest, size = content.length): Promise<PartialBlob> => store.blobs.createPartial(d, size, PIECE);
  const reader = (blob: PartialBlob, range?: { start: number; end: number }): Readable => blob.createReader(store.blobs.path(blob.digest), range, { holdBackUnverified: true });

  test('readers created before, during and after the bytes arrive, and after commit, get exactly the bytes', async () => {
    const blob = await partial();
    const before = readAll(reader(blob));
    assert.equal(blob.readers, 1);
    let during: Promise<Buffer> | undefined;
    for (const [i, [offset, piece]] of pieces().entries()) {
      await blob.write(offset, piece);
      if (i === 5) during = readAll(reader(blob));
      await tick();
    }
    const allWritten = readAll(reader(blob));
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.equal(blob.state, 'committed');
    await blob.done();
    const afterCommit = readAll(reader(blob));
    for (const got of await Promise.all([before, during!, allWritten, afterCommit])) assert.ok(got.equals(content));
    assert.equal(blob.readers, 0);
    assert.ok((await store.blobs.read(digest))!.equals(content));
    assert.deepEqual(await readdir(store.layout.tmp), []);
  });

  test('pieces arriving out of order: readers still get the bytes in order', async () => {
    const blob = await partial();
    const whole = readAll(reader(blob));
    for (const [offset, piece] of pieces().reverse()) {
      await blob.write(offset, piece);
      await tick();
    }
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.ok((await whole).equals(content));
  });

  test('range readers get exactly their range, whenever they start', async () => {
    const blob = await partial();
    const ranges = [
      { start: 0, end: 0 },
      { start: 5, end: PIECE - 1 },
      { start: PIECE - 1, end: PIECE + 1 },
      { start: 5 * PIECE, end: content.length - 1 },
      { start: content.length - 1, end: content.length - 1 },
    ];
    const early = ranges.map((r) => readAll(reader(blob, r)));
    const all = pieces();
    for (const [offset, piece] of all.slice(0, 3)) await blob.write(offset, piece);
    const mid = ranges.map((r) => readAll(reader(blob, r)));
    for (const [offset, piece] of all.slice(3)) await blob.write(offset, piece);
    await blob.commit();
    const late = ranges.map((r) => readAll(reader(blob, r)));
    for (const group of [early, mid, late]) {
      const got = await Promise.all(group);
      got.forEach((buffer, i) => assert.ok(buffer.equals(content.subarray(ranges[i]!.start, ranges[i]!.end + 1)), `range ${JSON.stringify(ranges[i])}`));
    }
  });

  test('a failed blob errors every reader with its error (also one created after), and stores nothing', async () => {
    const blob = await partial();
    const failure = new Error('the seed went away');
    const results = [outcome(reader(blob)), outcome(reader(blob, { start: 2 * PIECE, end: 3 * PIECE }))];
    await blob.write(0, content.subarray(0, PIECE));
    await tick();
    await blob.fail(failure);
    for (const result of await Promise.all(results)) assert.equal(result, failure);
    await assert.rejects(blob.done(), (e: unknown) => e === failure);
    assert.equal(await outcome(reader(blob)), failure);
    assert.equal(blob.readers, 0);
    assert.equal(await store.blobs.stat(digest), undefined);
    assert.deepEqual(await readdir(store.layout.tmp), []);
  });

  test('a whole-blob reader gets the final byte and its end only after verification; a mid-range reader need not wait', async () => {
    const blob = await partial();
    const received: Buffer[] = [];
    let ended = false;
    const r = reader(blob);
    const closed = new Promise((resolve) => r.once('close', resolve)); // before anything can close it
    r.on('data', (chunk: Buffer) => received.push(chunk));
    r.on('end', () => {
      ended = true;
    });
    const middle = readAll(reader(blob, { start: 10, end: 20 }));
    for (const [offset, piece] of pieces()) await blob.write(offset, piece);
    const got = (): number => received.reduce((n, c) => n + c.byteLength, 0);
    // file reads are real I/O: give the reader time to take all it may, then a little more
    for (let i = 0; i < 400 && got() < content.length - 1; i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(got(), content.length - 1);
    assert.equal(ended, false);
    assert.ok((await middle).equals(content.subarray(10, 21)));
    assert.deepEqual(await blob.commit(), { ok: true });
    await closed;
    assert.equal(ended, true);
    assert.ok(Buffer.concat(received).equals(content));
  });

  test('bytes that do not match the digest: commit refuses, nothing is stored, the reader does not end', async () => {
    const wrong = digestOf('something else');
    const blob = await partial(wrong);
    let ended = false;
    const r = reader(blob);
    const closed = new Promise((resolve) => r.once('close', resolve)); // fail() may close it before it resolves
    r.on('error', () => undefined); // it breaks off when the blob is failed below
    r.resume();
    r.on('end', () => {
      ended = true;
    });
    let broken: unknown;
    r.on('error', (error) => {
      broken = error;
    });
    for (const [offset, piece] of pieces()) await blob.write(offset, piece);
    const result = await blob.commit();
    assert.deepEqual(result, { ok: false, actual: digest.value });
    for (let i = 0; i < 10; i += 1) await tick();
    assert.equal(ended, false);
    assert.equal(await store.blobs.stat(wrong), undefined);
    assert.equal(await store.blobs.stat(digest), undefined);
    const failure = new Error('verification failed');
    await blob.fail(failure);
    await closed;
    assert.equal(ended, false);
    assert.equal(broken, failure);
  });

  test('a reader that already sent a piece later found corrupt breaks off, even though the repaired blob verifies', async () => {
    const blob = await partial();
    const all = pieces();
    const corrupt = Buffer.from(all[3]![1]);
    corrupt[17] = corrupt[17]! ^ 0xff;
    const wholeReader = reader(blob);
    let sent = 0;
    wholeReader.on('data', (chunk: Buffer) => {
      sent += chunk.byteLength;
    });
    const whole = new Promise<Error | undefined>((resolve) => {
      wholeReader.on('error', resolve);
      wholeReader.on('end', () => resolve(undefined));
    });
    const before = outcome(reader(blob, { start: 0, end: 2 * PIECE })); // never touches piece 3
    for (const [i, [offset, piece]] of all.entries()) await blob.write(offset, i === 3 ? corrupt : piece);
    // the whole-blob reader has passed the corrupt piece on (all but the held-back last byte)
    for (let i = 0; i < 400 && sent < content.length - 1; i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(sent, content.length - 1);
    assert.equal((await blob.commit()).ok, false);
    // the repair: piece 3 compared with the seed's copy, reset and written again
    blob.resetPiece(3);
    const afterReset = outcome(reader(blob));
    await blob.write(all[3]![0], all[3]![1]);
    assert.deepEqual(await blob.commit(), { ok: true });
    const broken = await whole;
    assert.ok(broken instanceof Error && /failed verification/.test(broken.message), `the whole-blob reader ended cleanly with corrupt bytes: ${String(broken)}`);
    assert.ok((await before as Buffer).equals(content.subarray(0, 2 * PIECE + 1)));
    assert.ok((await afterReset as Buffer).equals(content));
    assert.ok((await store.blobs.read(digest))!.equals(content));
  });

  test('a reader destroyed early is released and does not disturb the others', async () => {
    const blob = await partial();
    const quitter = reader(blob);
    const stayer = readAll(reader(blob));
    assert.equal(blob.readers, 2);
    await blob.write(0, content.subarray(0, 10));
    quitter.destroy();
    await tick();
    assert.equal(blob.readers, 1);
    await blob.write(10, content.subarray(10, PIECE));
    for (const [offset, piece] of pieces().slice(1)) await blob.write(offset, piece);
    await blob.commit();
    assert.ok((await stayer).equals(content));
    assert.equal(blob.readers, 0);
  });
});
