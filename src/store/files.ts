import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { isNotFound } from '../lib/fs-errors.ts';

export { isDiskFull, isNotFound } from '../lib/fs-errors.ts';

/** fsyncs a directory so a rename inside it survives a power cut. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a small file atomically: temp file in `tmpDir`, fsync, rename, fsync the directory. */
export async function writeFileAtomic(path: string, content: string | Uint8Array, tmpDir: string): Promise<void> {
  const tmp = join(tmpDir, `small-${randomUUID()}`);
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    // A full disk: leave no half-written temp file behind until the next start.
    await handle.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await mkdir(dirname(path), { recursive: true });
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await syncDirectory(dirname(path));
}

export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
