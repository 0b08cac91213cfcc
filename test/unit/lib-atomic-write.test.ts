// src/lib/atomic-write.ts and durable-rename.ts: whole-file replacement and the fsync-rename commit.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeFileAtomic } from '../../src/lib/atomic-write.ts';
import { commitFile } from '../../src/lib/durable-rename.ts';
import { isDiskFull, isNotFound } from '../../src/lib/fs-errors.ts';

describe('atomic write and durable commit', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-lib-files-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('replaces a file whole, creating its folder, leaving no temp file beside it', async () => {
    const path = join(dir, 'a', 'b', 'settings.json');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, 'two');
    assert.equal(await readFile(path, 'utf8'), 'two');
    assert.deepEqual(await readdir(join(dir, 'a', 'b')), ['settings.json']);
  });

  test('mode and folder mode are exact, whatever the umask', async () => {
    const path = join(dir, 'secret', 'key');
    const previous = process.umask(0o077);
    try {
      await writeFileAtomic(path, new Uint8Array([1, 2, 3]), { mode: 0o644, dirMode: 0o700 });
    } finally {
      process.umask(previous);
    }
    assert.equal((await stat(path)).mode & 0o777, 0o644);
    assert.equal((await stat(join(dir, 'secret'))).mode & 0o777, 0o700);
  });

  test('with a tmpDir the temp file goes there; a failed rename removes it', async () => {
    const tmp = join(dir, 'tmp');
    await mkdir(tmp);
    await writeFileAtomic(join(dir, 'link'), 'sha256:abc', { tmpDir: tmp });
    assert.equal(await readFile(join(dir, 'link'), 'utf8'), 'sha256:abc');
    // A folder where the file should go: the rename fails, and nothing is left in tmp.
    await mkdir(join(dir, 'taken', 'full'), { recursive: true });
    await writeFile(join(dir, 'taken', 'full', 'x'), '');
    await assert.rejects(writeFileAtomic(join(dir, 'taken', 'full'), 'data', { tmpDir: tmp }));
    assert.deepEqual(await readdir(tmp), []);
  });

  test('commitFile moves a written file under its final name and closes the handle', async () => {
    const from = join(dir, 'upload-data');
    const handle = await open(from, 'w');
    await handle.write('blob bytes');
    const to = join(dir, 'blobs', 'sha256', 'ab', 'data');
    await commitFile(handle, from, to);
    assert.equal(await readFile(to, 'utf8'), 'blob bytes');
    await assert.rejects(stat(from), (error) => isNotFound(error));
    await assert.rejects(handle.sync(), 'the handle was closed');
  });

  test('errno classes', () => {
    assert.equal(isNotFound(Object.assign(new Error('x'), { code: 'ENOTDIR' })), true);
    assert.equal(isNotFound(Object.assign(new Error('x'), { code: 'EACCES' })), false);
    assert.equal(isDiskFull(Object.assign(new Error('x'), { code: 'EDQUOT' })), true);
    assert.equal(isDiskFull(undefined), false);
  });
});
