// Chunks kept in memory for readers of blobs being written: a blob alone keeps a piece's worth,
// blobs written at the same time share that (a crowd's cold image arrives three or four layers at
// once, and 8 chunks each were a large part of its memory peak).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentChunks, recentChunkLimit } from '../../src/store/handed-over.ts';
import { handedOver } from '../helpers/handed-over.ts';

const CHUNK = 64 * 1024;

function fill(recent: RecentChunks, count: number): void {
  for (let i = 0; i < count; i++) recent.remember(i * CHUNK, handedOver(Buffer.alloc(CHUNK, i)));
}

test('blobs written at once share the chunks kept; one alone keeps them all', () => {
  const first = new RecentChunks();
  fill(first, 12);
  assert.equal(first.kept, 8, 'a blob alone keeps 8');
  const second = new RecentChunks();
  fill(second, 12);
  assert.equal(second.kept, 4, 'two blobs: 4 each');
  first.remember(12 * CHUNK, handedOver(Buffer.alloc(CHUNK)));
  assert.equal(first.kept, 4, 'the first drops down to its share at its next write');
  const others = [new RecentChunks(), new RecentChunks()];
  for (const recent of others) fill(recent, 12);
  assert.equal(recentChunkLimit(), 2, 'four blobs: 2 each');
  for (const recent of [second, ...others]) recent.forget();
  fill(first, 12);
  assert.equal(first.kept, 8, 'alone again: 8');
  first.forget();
  assert.equal(first.kept, 0);
});

test('a blob that kept nothing new for 5 s no longer takes a share', async () => {
  const abandoned = new RecentChunks();
  fill(abandoned, 2);
  const busy = new RecentChunks();
  fill(busy, 12);
  assert.equal(busy.kept, 4, 'two blobs: 4 each');
  await new Promise((resolve) => setTimeout(resolve, 5_100));
  fill(busy, 12);
  assert.equal(busy.kept, 8, 'the one left unfinished counts no more');
  abandoned.forget();
  busy.forget();
});
