import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PieceFailures } from '../../src/distribute/piece-failures.ts';
import { BUSY_BACKOFF_MS, MAX_SEED_FAILURES } from '../../src/distribute/piece-limits.ts';

test('a source that failed a piece is remembered for that piece only', () => {
  const failures = new PieceFailures();
  failures.sourceFailed(3, 'peer-a');
  failures.sourceFailed(3, 'seed');
  assert.deepEqual([...failures.of(3)].sort(), ['peer-a', 'seed']);
  assert.equal(failures.of(4).size, 0);
});

test('a busy peer is left alone for BUSY_BACKOFF_MS, then asked again', () => {
  const failures = new PieceFailures();
  failures.peerBusy('peer-a', 1_000);
  assert.equal(failures.isBusy('peer-a', 1_000 + BUSY_BACKOFF_MS - 1), true);
  assert.equal(failures.isBusy('peer-a', 1_000 + BUSY_BACKOFF_MS), false);
  assert.equal(failures.isBusy('peer-b', 1_000), false);
});

test('the seed is retried after a pause that grows with each failure, and given up after MAX_SEED_FAILURES', () => {
  const failures = new PieceFailures();
  const error = new Error('reset');
  failures.seedFailed(error, false, 0);
  assert.equal(failures.seedReady(499), false);
  assert.equal(failures.seedReady(500), true);
  assert.equal(failures.lastSeedError, error);
  failures.seedFailed(error, false, 0);
  assert.equal(failures.seedReady(999), false);
  assert.equal(failures.seedReady(1_000), true);
  for (let i = 2; i < MAX_SEED_FAILURES; i++) failures.seedFailed(error, false, 0);
  assert.equal(failures.seedUsable, false);
});

test('a final answer from the seed (not found, refused) stops asking it at once', () => {
  const failures = new PieceFailures();
  assert.equal(failures.seedUsable, true);
  failures.seedFailed(new Error('404'), true);
  assert.equal(failures.seedUsable, false);
});
