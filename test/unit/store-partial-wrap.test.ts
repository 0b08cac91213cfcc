// Pieces filled from inside (a Range read's piece starts at the range, its head follows): the fill
// wraps round, and availableFrom, readers, the hash over the prefix, resets, resumption from
// where the fill stopped and the kept-piece list all stay exact.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { digestOf, type ByteRange } from '../../src/oci/index.ts';
import { Store, type PartialBlob } from '../../src/store/index.ts';
import { keptPaths } from '../../src/store/kept-partial.ts';
import { eventually } from '../helpers/eventually.ts';
import { blobScenario } from '../helpers/blob-scenario.ts';
import { tempStorePerTest } from '../helpers/temp-store.ts';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const outcome = (stream: Readable): Promise<Buffer | Error> => readAll(stream).catch((error: unknown) => error as Error);

/** Fills piece `index` from `from` as transfers do: each write where nextFill says, at most `chunk` bytes; `stopAfter` writes at most. */
async function fillPiece(blob: PartialBlob, bytes: Buffer, index: number, from: number | undefined, chunk: number, stopAfter = Infinity): Promise<void> {
  for (let writes = 0; writes < stopAfter && !blob.isPieceComplete(index); writes++) {
    const run = blob.nextFill(index, from);
    const end = Math.min(run.end, run.start + chunk);
    await blob.write(run.start, bytes.subarray(run.start, end));
  }
}

/** End of the gapless present bytes from `position`, by the byte-map model. */
function modelAvailable(present: Uint8Array, position: number): number {
  let at = position;
  while (at < present.length && present[at] === 1) at++;
  return Math.max(at, Math.min(position, present.length));
}

describe('PartialBlob: pieces filled from inside, wrapping round', () => {
  const temp = tempStorePerTest('shoal-wrap-');

  const create = (content: Buffer, pieceSize: number): Promise<PartialBlob> => temp.store.blobs.createPartial(digestOf(content), content.length, pieceSize);
  const reader = (blob: PartialBlob, range?: ByteRange): Readable => blob.createReader(temp.store.blobs.path(blob.digest), range, { holdBackUnverified: false });

  test('an empty piece starts at any byte; its tail runs on into the next piece, its head ends where the fill began', async () => {
    const content = randomBytes(6_000);
    const blob = await create(content, 1_000);
    assert.deepEqual(blob.nextFill(2, 2_500), { start: 2_500, end: 3_000 }, 'an empty piece runs from the range');
    assert.deepEqual(blob.nextFill(2, 1_500), { start: 2_000, end: 3_000 }, 'a range that began in an earlier piece: from the start');
    assert.deepEqual(blob.nextFill(2), { start: 2_000, end: 3_000 });
    await blob.write(2_500, content.subarray(2_500, 2_800));
    assert.equal(blob.pieceFilled(2), 300);
    assert.equal(blob.availableFrom(2_500), 2_800);
    assert.equal(blob.availableFrom(2_600), 2_800);
    assert.equal(blob.availableFrom(2_000), 2_000, 'the head is missing');
    assert.deepEqual(blob.nextFill(2, 2_000), { start: 2_800, end: 3_000 }, 'a started piece goes on where its fill stopped');
    await assert.rejects(blob.write(2_000, content.subarray(2_000, 2_100)), /does not continue piece 2/, 'the head before the tail');
    // The tail reaches the piece's end and runs on into empty piece 3 (which starts at 0).
    await blob.write(2_800, content.subarray(2_800, 3_200));
    assert.equal(blob.isPieceComplete(2), false);
    assert.equal(blob.availableFrom(2_500), 3_200, 'the tail of piece 2 and the head of piece 3 are one run');
    assert.deepEqual(blob.nextFill(2), { start: 2_000, end: 2_500 }, 'then the head, up to where the fill began');
    await assert.rejects(blob.write(2_000, content.subarray(2_000, 2_600)), /does not continue piece 2: it runs into/, 'the head may not overwrite the tail');
    await assert.rejects(blob.write(2_100, content.subarray(2_100, 2_200)), /does not continue piece 2/, 'a gap in the head');
    await blob.write(2_000, content.subarray(2_000, 2_200));
    assert.equal(blob.availableFrom(2_000), 2_200);
    assert.equal(blob.availableFrom(2_700), 3_200);
    await blob.write(2_200, content.subarray(2_200, 2_500));
    assert.equal(blob.isPieceComplete(2), true);
    assert.deepEqual(blob.completePieces(), [2]);
    assert.equal(blob.availableFrom(2_000), 3_200);
    await assert.rejects(blob.write(2_500, content.subarray(2_500, 2_600)), /does not continue piece 2/, 'a complete piece');
    assert.ok((await readAll(reader(blob, { start: 2_600, end: 3_100 }))).equals(content.subarray(2_600, 3_101)));
    await blob.fail(new Error('done'));
  });

  test('a range reader inside a piece filled from the range is served before the head of the piece arrives', async () => {
    const content = randomBytes(3_000);
    const blob = await create(content, 1_000);
    const got = readAll(reader(blob, { start: 1_600, end: 1_899 }));
    await blob.write(1_500, content.subarray(1_500, 2_000));
    assert.ok((await got).equals(content.subarray(1_600, 1_900)));
    assert.equal(blob.isPieceComplete(1), false);
    await blob.fail(new Error('done'));
  });

  test('a range reader that has sent nothing yet outlives a reset of its piece and gets the new bytes', async () => {
    const content = randomBytes(3_000);
    const wrong = randomBytes(content.length);
    const blob = await create(content, 1_000);
    const got = outcome(reader(blob, { start: 1_600, end: 1_899 }));
    await blob.write(1_000, wrong.subarray(1_000, 1_300)); // the piece's head only: nothing of the range
    blob.resetPiece(1);
    await fillPiece(blob, content, 1, 1_500, 200);
    const bytes = await got;
    assert.ok(!(bytes instanceof Error) && bytes.equals(content.subarray(1_600, 1_900)), String(bytes instanceof Error ? bytes.message : 'wrong bytes'));
    await blob.fail(new Error('done'));
  });

  test('the hash covers the prefix only: a wrapped piece 0 is hashed once its head arrives; commit verifies', async () => {
    const content = randomBytes(10_000);
    const blob = await create(content, 4_000);
    await fillPiece(blob, content, 1, 6_000, 700);
    await fillPiece(blob, content, 0, 3_000, 500, 2);
    assert.equal(blob.availableFrom(0), 0, 'nothing from byte 0 yet');
    await fillPiece(blob, content, 2, 9_000, 10_000);
    await fillPiece(blob, content, 0, undefined, 900);
    assert.equal(blob.availableFrom(0), content.length);
    assert.deepEqual(await blob.commit(), { ok: true });
    assert.ok((await readFile(temp.store.layout.blobData(blob.digest))).equals(content));
  });

  test('a reset wrapped piece starts over from wherever its next write lands; a reader that got its old bytes breaks off', async () => {
    const content = randomBytes(8_000);
    const wrong = randomBytes(content.length);
    const blob = await create(content, 2_000);
    // It runs on into piece 2, still empty: it has sent piece 1's bytes and waits when the reset comes.
    const earlyReader = reader(blob, { start: 2_500, end: 4_500 });
    let sent = 0;
    earlyReader.on('data', (chunk: Buffer) => (sent += chunk.length));
    const early = new Promise<Error | undefined>((resolve) => {
      earlyReader.once('error', resolve);
      earlyReader.once('end', () => resolve(undefined));
    });
    await fillPiece(blob, wrong, 1, 2_400, 300);
    assert.equal(blob.isPieceComplete(1), true);
    await eventually(async () => sent > 0, 5_000, 'the reader to send the (wrong) bytes');
    blob.resetPiece(1);
    assert.equal(blob.pieceFilled(1), 0);
    assert.equal(blob.availableFrom(2_500), 2_500);
    assert.ok((await early) instanceof Error, 'the reader that sent the wrong bytes fails');
    const after = outcome(reader(blob, { start: 2_500, end: 2_700 }));
    await fillPiece(blob, content, 1, 3_000, 256);
    for (const index of [0, 2, 3]) await fillPiece(blob, content, index, blob.pieceStart(index) + 1_111, 999);
    assert.ok(((await after) as Buffer).equals(content.subarray(2_500, 2_701)));
    assert.deepEqual(await blob.commit(), { ok: true });
  });

  test('only complete pieces are kept for a restart: a wrapped complete piece comes back, a wrapped partial one starts over', async () => {
    const content = randomBytes(4 * 64 * 1024);
    const piece = 64 * 1024;
    const blob = await create(content, piece);
    await fillPiece(blob, content, 1, piece + 40_000, 16_384);
    await fillPiece(blob, content, 2, 2 * piece + 40_000, 16_384, 2);
    const { sidecar } = keptPaths(temp.store.layout, blob.digest);
    await eventually(async () => JSON.parse(await readFile(sidecar, 'utf8').catch(() => '{}')).complete?.length === 1, 5_000, 'the complete piece to be recorded');
    assert.deepEqual(JSON.parse(await readFile(sidecar, 'utf8')).complete, [1]);
    // As after a kill -9: the store opened again finds the kept file.
    const reopened = (await Store.open(temp.dir)).store;
    const again = await reopened.blobs.createPartial(blob.digest, content.length, piece);
    assert.deepEqual(again.completePieces(), [1]);
    assert.equal(again.pieceFilled(2), 0);
    for (const index of [3, 0, 2]) await fillPiece(again, content, index, again.pieceStart(index) + 5_000, 20_000);
    assert.deepEqual(await again.commit(), { ok: true });
    assert.ok((await readFile(reopened.layout.blobData(blob.digest))).equals(content));
    await blob.fail(new Error('abandoned before the restart')); // closes its file; the kept files are gone already
  });

  test('property: pieces filled from random starts, in random order, broken off and resumed, some first with wrong bytes then reset → availableFrom matches a byte map, readers exact, commit verifies', async () => {
    const scenario = blobScenario({ maxSize: 200_000, pieceSize: [500, 60_000], chunk: [100, 70_000], maxParallel: 3 }, (s, indexes) => ({
      starts: fc.array(fc.option(fc.nat(s.pieceSize - 1)), { minLength: indexes.length, maxLength: indexes.length }),
      // Pieces broken off after this many writes and put back in the queue (resumed later, by "another source").
      breaks: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: indexes.length, maxLength: indexes.length }),
      wrongFirst: fc.subarray(indexes),
    }));
    await fc.assert(
      fc.asyncProperty(scenario, async ({ s, order, starts, breaks, wrongFirst, parallel, range }) => {
        const content = randomBytes(s.size);
        const wrong = Buffer.from(content.map((b) => b ^ 0x5a));
        const blob = await create(content, s.pieceSize);
        const present = new Uint8Array(s.size);
        const from = (index: number): number | undefined => (starts[index] === null || starts[index] === undefined ? undefined : blob.pieceStart(index) + starts[index]!);
        const oldReader = reader(blob, range);
        let resetting = true;
        let endedWhileResetting = false;
        oldReader.once('end', () => (endedWhileResetting = resetting));
        const beforeResets = outcome(oldReader);
        // Wrong bytes, partly written from inside the piece, then forgotten (a failed verification).
        for (const index of wrongFirst) {
          await fillPiece(blob, wrong, index, from(index), s.chunk, 2);
          blob.resetPiece(index);
        }
        resetting = false;
        const early = outcome(reader(blob, range));
        const whole = outcome(reader(blob));
        const queue = [...order];
        const pending = new Map(order.map((i) => [i, breaks[i] ?? 0]));
        await Promise.all(
          Array.from({ length: parallel }, async () => {
            for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
              const left = pending.get(index)!;
              for (let writes = 0; !blob.isPieceComplete(index) && (left === 0 || writes < left); writes++) {
                const run = blob.nextFill(index, from(index));
                const end = Math.min(run.end, run.start + s.chunk);
                await blob.write(run.start, content.subarray(run.start, end));
                present.fill(1, run.start, end);
                if (parallel === 1) {
                  for (const p of [0, run.start, end - 1, blob.pieceStart(index), Math.max(0, blob.pieceStart(index) - 1)]) {
                    assert.equal(blob.availableFrom(p), modelAvailable(present, p), `availableFrom(${p})`);
                  }
                }
              }
              pending.set(index, 0);
              if (!blob.isPieceComplete(index)) queue.push(index);
            }
          }),
        );
        assert.equal(blob.isComplete, true);
        assert.equal(blob.availableFrom(0), s.size);
        assert.equal(blob.received, s.size);
        const expected = content.subarray(range.start, range.end + 1);
        const got = await early;
        assert.ok(!(got instanceof Error) && got.equals(expected), 'a range reader created after the resets gets exactly its bytes');
        const gotWhole = await whole;
        assert.ok(!(gotWhole instanceof Error) && gotWhole.equals(content), 'a whole reader created after the resets gets exactly the blob');
        const old = await beforeResets;
        // One that had sent all its bytes before a reset cannot take them back (a part of a blob is
        // never verified on its own); any other breaks off.
        assert.ok(old instanceof Error || old.equals(expected) || endedWhileResetting, 'a reader from before the resets gets the right bytes or breaks off');
        assert.deepEqual(await blob.commit(), { ok: true }, 'the hash ran over the right bytes');
        assert.ok((await readFile(temp.store.layout.blobData(blob.digest))).equals(content));
        await temp.store.blobs.delete(blob.digest);
      }),
      { numRuns: 60 },
    );
  });
});
