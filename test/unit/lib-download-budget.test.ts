import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DOWNLOAD_BUDGET_BYTES, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES, POOL_LIMIT_BYTES, chunkBytes, downloadStarted, downloadsInFlight, giveChunk, setForeignChunkOwner, takeChunk } from '../../src/lib/download-budget.ts';

describe('download budget', () => {
  it('gives one response full chunks and a crowd small ones, two chunks each staying near the budget', () => {
    const base = downloadsInFlight();
    const releases = [downloadStarted()];
    assert.equal(chunkBytes(), MAX_CHUNK_BYTES);
    assert.equal(chunkBytes(256 * 1024), 256 * 1024, 'a smaller cap of the caller holds');
    while (downloadsInFlight() < base + 150) releases.push(downloadStarted());
    const crowd = chunkBytes();
    assert.ok(crowd <= 64 * 1024, `150 responses get small chunks (${crowd})`);
    assert.ok(2 * crowd * 150 <= DOWNLOAD_BUDGET_BYTES, 'two chunks each fit the budget');
    while (downloadsInFlight() < base + 5000) releases.push(downloadStarted());
    assert.equal(chunkBytes(), MIN_CHUNK_BYTES, 'never below the smallest chunk');
    for (const release of releases) {
      release();
      release();
    }
    assert.equal(downloadsInFlight(), base, 'a second release is harmless');
  });

  it('reuses a chunk given back, for reads of any length up to its size', () => {
    const chunk = takeChunk(100 * 1024);
    assert.equal(chunk.byteLength, 128 * 1024, 'the power of two that holds the read');
    giveChunk(chunk.subarray(0, 5));
    const again = takeChunk(128 * 1024);
    assert.equal(again.buffer, chunk.buffer, 'the same memory, not a fresh buffer');
    assert.equal(takeChunk(1).byteLength, MIN_CHUNK_BYTES);
    giveChunk(again);
  });

  it('takes back only its own chunks, once', () => {
    const foreign = Buffer.allocUnsafeSlow(MIN_CHUNK_BYTES);
    giveChunk(foreign);
    assert.notEqual(takeChunk(MIN_CHUNK_BYTES).buffer, foreign.buffer, 'a buffer it did not make is never handed out');
    const chunk = takeChunk(MIN_CHUNK_BYTES);
    giveChunk(chunk);
    giveChunk(chunk);
    const first = takeChunk(MIN_CHUNK_BYTES);
    const second = takeChunk(MIN_CHUNK_BYTES);
    assert.notEqual(first.buffer, second.buffer, 'a chunk given twice is handed out once');
  });

  it('hands a chunk that is not its own to the foreign owner, once per give, and keeps it out of its pool', () => {
    const given: Uint8Array[] = [];
    setForeignChunkOwner((view) => given.push(view));
    const lent = Buffer.allocUnsafeSlow(MIN_CHUNK_BYTES);
    giveChunk(lent.subarray(10, 20));
    giveChunk(lent);
    assert.deepEqual(given.map((view) => view.buffer), [lent.buffer, lent.buffer], 'each give reaches the owner');
    assert.notEqual(takeChunk(MIN_CHUNK_BYTES).buffer, lent.buffer, 'never handed out by the pool');
    const own = takeChunk(MIN_CHUNK_BYTES);
    giveChunk(own);
    assert.equal(given.length, 2, 'the pool keeps its own chunks to itself');
    setForeignChunkOwner(() => undefined);
  });

  it('makes room for the size in demand by dropping free chunks of other sizes', () => {
    // Fill the free pool with small chunks, as a crowd leaves behind.
    const small = Array.from({ length: 256 }, () => takeChunk(MIN_CHUNK_BYTES));
    for (const chunk of small) giveChunk(chunk);
    const big = takeChunk(MAX_CHUNK_BYTES);
    giveChunk(big);
    assert.equal(takeChunk(MAX_CHUNK_BYTES).buffer, big.buffer, 'the large chunk was kept, not dropped for want of room');
    const stillHeld = small.filter((chunk) => chunk.byteLength > 0).length;
    assert.ok(stillHeld * MIN_CHUNK_BYTES + MAX_CHUNK_BYTES <= POOL_LIMIT_BYTES, `the small chunks the pool let go (all but ${stillHeld}) were freed at once, not left to the collector`);
  });

  it('frees a chunk given back at once when the pool has no room for it', () => {
    // More than the pool keeps, all of one size: the pool ends full of them, and the rest are freed.
    const count = POOL_LIMIT_BYTES / MIN_CHUNK_BYTES + 40;
    const chunks = Array.from({ length: count }, () => takeChunk(MIN_CHUNK_BYTES));
    for (const chunk of chunks) giveChunk(chunk.subarray(0, 100));
    const freed = chunks.filter((chunk) => chunk.byteLength === 0);
    assert.equal(freed.length, 40, 'exactly those beyond the pool are released (detached, their memory freed)');
    const kept = chunks.filter((chunk) => chunk.byteLength === MIN_CHUNK_BYTES);
    const again = Array.from({ length: kept.length }, () => takeChunk(MIN_CHUNK_BYTES));
    assert.deepEqual(new Set(again.map((chunk) => chunk.buffer)), new Set(kept.map((chunk) => chunk.buffer)), 'the kept ones are handed out again');
    giveChunk(freed[0]!);
    assert.equal(takeChunk(MIN_CHUNK_BYTES).byteLength, MIN_CHUNK_BYTES, 'a freed chunk given again is ignored, never handed out');
    for (const chunk of again) giveChunk(chunk);
  });
});
