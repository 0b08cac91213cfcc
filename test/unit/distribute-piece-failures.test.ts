import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PieceFailures } from '../../src/distribute/piece-failures.ts';
import { BUSY_BACKOFF_MS, SEED_OUTAGE_MS, SEED_RETRY_BASE_MS, SEED_RETRY_MAX_MS } from '../../src/distribute/piece-limits.ts';
import { OciError } from '../../src/oci/index.ts';
import { UpstreamUnavailableError } from '../../src/upstream/index.ts';

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

test('the seed is retried after a pause that doubles with each failure, and given up after MAX_SEED_FAILURES over SEED_OUTAGE_MS', () => {
  const failures = new PieceFailures();
  const error = new Error('reset');
  let now = 0;
  failures.seedFailed(error, false, now);
  assert.equal(failures.seedReady(now + SEED_RETRY_BASE_MS - 1), false);
  assert.equal(failures.seedReady(now + SEED_RETRY_BASE_MS), true);
  assert.equal(failures.lastSeedError, error);
  now += SEED_RETRY_BASE_MS;
  failures.seedFailed(error, false, now);
  assert.equal(failures.seedReady(now + 2 * SEED_RETRY_BASE_MS - 1), false);
  assert.equal(failures.seedReady(now + 2 * SEED_RETRY_BASE_MS), true);
  // Failing at every retry: still asked until the failures span SEED_OUTAGE_MS.
  for (let i = 2; now < SEED_OUTAGE_MS; i++) {
    assert.equal(failures.seedUsable, true, `still asked ${now} ms into the outage`);
    now += Math.min(SEED_RETRY_BASE_MS * 2 ** (i - 1), SEED_RETRY_MAX_MS);
    failures.seedFailed(error, false, now);
  }
  assert.ok(now >= SEED_OUTAGE_MS);
  assert.equal(failures.seedUsable, false);
});

test('reads broken off by one outage count as one failure: those ending during the pause it started count nothing', () => {
  const failures = new PieceFailures();
  const error = new Error('ECONNREFUSED');
  // Three seed reads running when the seed stopped (fault audit: a 15 s outage failed the pull).
  for (const at of [0, 3, 40]) failures.seedFailed(error, false, at);
  assert.equal(failures.seedReady(SEED_RETRY_BASE_MS), true, 'the pause is the first failure\'s');
  failures.seedFailed(error, false, SEED_RETRY_BASE_MS);
  failures.seedFailed(error, false, SEED_OUTAGE_MS - 1);
  assert.equal(failures.seedUsable, true, 'three failures, but not yet over SEED_OUTAGE_MS');
});

test('an upstream marked down is waited for as long as it says, and bytes from the seed end the outage', () => {
  const failures = new PieceFailures();
  const markedDown = new OciError('UNAVAILABLE', 'the seed registry could not be reached', undefined, { cause: new UpstreamUnavailableError('seed:5000', 'marked down; tried again in 25 s', { retryAfterMs: 25_000 }) });
  failures.seedFailed(markedDown, false, 0);
  assert.equal(failures.seedReady(24_999), false);
  assert.equal(failures.seedReady(25_000), true);
  failures.seedFailed(new Error('reset'), false, 25_000);
  failures.seedAnswered();
  failures.seedFailed(new Error('reset'), false, SEED_OUTAGE_MS + 30_000);
  failures.seedFailed(new Error('reset'), false, SEED_OUTAGE_MS + 40_000);
  assert.equal(failures.seedUsable, true, 'a new outage starts its own count');
});

test('a final answer from the seed (not found, refused) stops asking it at once', () => {
  const failures = new PieceFailures();
  assert.equal(failures.seedUsable, true);
  failures.seedFailed(new Error('404'), true);
  assert.equal(failures.seedUsable, false);
});
