import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { digestOf } from '../../src/oci/index.ts';
import { hashWorkerRunning, PrefixHasher, stopHashWorker } from '../../src/store/prefix-hasher.ts';

const MiB = 1024 * 1024;

/** A file grown by hand, with the contiguous end the hasher asks for. */
async function growingFile(path: string): Promise<{ handle: FileHandle; write(offset: number, bytes: Buffer): Promise<void>; contiguous: () => number; forget(end: number): void }> {
  const handle = await open(path, 'w+');
  let contiguous = 0;
  return {
    handle,
    async write(offset, bytes) {
      await handle.write(bytes, 0, bytes.length, offset);
      if (offset === contiguous) contiguous += bytes.length;
    },
    contiguous: () => contiguous,
    forget(end) {
      contiguous = Math.min(contiguous, end);
    },
  };
}

describe('PrefixHasher: sha256 of a growing file on a worker thread', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-hasher-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  after(() => stopHashWorker());

  test('the digest of bytes written in steps, small and larger than the worker step', async () => {
    const content = randomBytes(20 * MiB + 12345);
    const file = await growingFile(join(dir, 'blob'));
    const hasher = new PrefixHasher(join(dir, 'blob'), 'sha256', content.length, (from) => Math.max(from, file.contiguous()));
    try {
      for (let offset = 0; offset < content.length; ) {
        const length = Math.min(content.length - offset, 300_000 + (offset % 7) * 1000);
        await file.write(offset, content.subarray(offset, offset + length));
        hasher.advance();
        offset += length;
      }
      assert.equal((await hasher.digest()).value, digestOf(content).value);
    } finally {
      hasher.close();
      await file.handle.close();
    }
  });

  test('an empty blob', async () => {
    const file = await growingFile(join(dir, 'empty'));
    const hasher = new PrefixHasher(join(dir, 'empty'), 'sha256', 0, () => 0);
    try {
      assert.equal((await hasher.digest()).value, digestOf(Buffer.alloc(0)).value);
    } finally {
      hasher.close();
      await file.handle.close();
    }
  });

  test('bytes rewritten after a reset are hashed as they are now, not as they were', async () => {
    const first = randomBytes(10 * MiB);
    const second = Buffer.from(first);
    second.fill(7, 9 * MiB, 10 * MiB);
    const file = await growingFile(join(dir, 'blob'));
    const hasher = new PrefixHasher(join(dir, 'blob'), 'sha256', first.length, (from) => Math.max(from, file.contiguous()));
    try {
      await file.write(0, first);
      hasher.advance();
      // The worker has read the first bytes once this answers (as when a commit finds a mismatch).
      assert.equal((await hasher.digest()).value, digestOf(first).value);
      // The last MiB failed verification: forgotten, then written again with other bytes.
      file.forget(9 * MiB);
      hasher.reset(9 * MiB);
      await file.write(9 * MiB, second.subarray(9 * MiB));
      hasher.advance();
      assert.equal((await hasher.digest()).value, digestOf(second).value);
    } finally {
      hasher.close();
      await file.handle.close();
    }
  });

  test('a read that failed on forgotten bytes does not fail the bytes written again after a reset', async () => {
    const content = randomBytes(3 * MiB);
    const file = await growingFile(join(dir, 'blob'));
    let claimed = 3 * MiB;
    const hasher = new PrefixHasher(join(dir, 'blob'), 'sha256', content.length, (from) => Math.max(from, claimed));
    try {
      // Bytes counted as present that the file does not have (cut back under the hasher): the worker's read fails.
      await file.write(0, content.subarray(0, MiB));
      hasher.advance();
      await assert.rejects(hasher.digest(), /the temp file ended at byte 1048576/);
      // They are forgotten, written again, and hashed from the start.
      claimed = 0;
      hasher.reset(0);
      await file.write(MiB, content.subarray(MiB));
      claimed = content.length;
      hasher.advance();
      assert.equal((await hasher.digest()).value, digestOf(content).value);
    } finally {
      hasher.close();
      await file.handle.close();
    }
  });

  test('missing bytes make digest() fail rather than wait', async () => {
    const file = await growingFile(join(dir, 'blob'));
    const hasher = new PrefixHasher(join(dir, 'blob'), 'sha256', 2 * MiB, (from) => Math.max(from, file.contiguous()));
    try {
      await file.write(0, randomBytes(MiB));
      await assert.rejects(hasher.digest(), /stalled at byte 1048576 of 2097152/);
    } finally {
      hasher.close();
      await file.handle.close();
    }
  });

  test('a worker that dies fails the blobs it was hashing, and the next blob gets a new worker', async () => {
    const content = randomBytes(3 * MiB);
    const file = await growingFile(join(dir, 'blob'));
    const hasher = new PrefixHasher(join(dir, 'blob'), 'sha256', content.length, (from) => Math.max(from, file.contiguous()));
    await file.write(0, content);
    hasher.advance();
    assert.equal(hashWorkerRunning(), true);
    await stopHashWorker();
    await assert.rejects(hasher.digest(), /hashing stopped/);
    hasher.close();

    const again = new PrefixHasher(join(dir, 'blob'), 'sha256', content.length, () => content.length);
    try {
      assert.equal((await again.digest()).value, digestOf(content).value);
    } finally {
      again.close();
      await file.handle.close();
    }
  });

  test('a file the worker cannot read fails the digest, not the process', async () => {
    const hasher = new PrefixHasher(join(dir, 'missing'), 'sha256', 10, () => 10);
    try {
      await assert.rejects(hasher.digest(), /cannot hash the temp file: ENOENT/);
    } finally {
      hasher.close();
    }
  });

  test('an open hasher does not keep the process alive', async () => {
    const script = `
      import { writeFileSync } from 'node:fs';
      import { hashWorkerRunning, PrefixHasher } from ${JSON.stringify(new URL('../../src/store/prefix-hasher.ts', import.meta.url).href)};
      const path = ${JSON.stringify(join(dir, 'alive'))};
      writeFileSync(path, Buffer.alloc(16 * 1024 * 1024));
      const hasher = new PrefixHasher(path, 'sha256', 16 * 1024 * 1024, () => 16 * 1024 * 1024);
      hasher.advance();
      console.log('started', hashWorkerRunning());
    `;
    // A file, not -e: the worker inherits the parent's flags, and --input-type breaks a file entry.
    await writeFile(join(dir, 'alive.mjs'), script);
    // Exiting by itself is the point: execFile's timeout kills it and fails the test otherwise.
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'alive.mjs')], { timeout: 20_000 });
    assert.equal(stdout.trim(), 'started true');
  });
});
