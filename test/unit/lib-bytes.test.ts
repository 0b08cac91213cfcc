// src/lib/bytes.ts: byte counts for people (status, doctor, prefetch, gc).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes } from '../../src/lib/bytes.ts';

test('bytes in binary units with one decimal', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.0 KiB');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(256 * 1024 ** 2), '256.0 MiB');
  assert.equal(formatBytes(1024 ** 2 - 1), '1.0 MiB', 'never "1024.0 KiB"');
  assert.equal(formatBytes(3.25 * 1024 ** 3), '3.3 GiB');
  assert.equal(formatBytes(2 * 1024 ** 4), '2.0 TiB');
  assert.equal(formatBytes(-1), '? B');
  assert.equal(formatBytes(Number.NaN), '? B');
});
