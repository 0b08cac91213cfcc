import { readFile } from 'node:fs/promises';
import { writeFileAtomic as writeAtomic } from '../lib/atomic-write.ts';
import { isNotFound } from '../lib/fs-errors.ts';

export { isDiskFull, isNotFound } from '../lib/fs-errors.ts';
export { syncDirectory } from '../lib/durable-rename.ts';

/** Writes a small file of the data directory atomically; its temp file goes to `tmpDir`, which start-up empties. */
export function writeFileAtomic(path: string, content: string | Uint8Array, tmpDir: string): Promise<void> {
  return writeAtomic(path, content, { tmpDir });
}

export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
