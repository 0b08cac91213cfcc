import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Layout } from './layout.ts';

/**
 * Run once at startup, before anything is served: temp files are what a crash left behind in
 * the middle of a write; they were never visible under a digest, so they are removed.
 * Upload sessions (`_uploads`) are kept: a client may resume them; they expire by age.
 */
export async function recoverStore(layout: Layout): Promise<{ removedTempFiles: number }> {
  await mkdir(layout.tmp, { recursive: true });
  await mkdir(layout.blobsRoot(), { recursive: true });
  await mkdir(layout.repositoriesRoot(), { recursive: true });
  const leftovers = await readdir(layout.tmp);
  for (const name of leftovers) await rm(join(layout.tmp, name), { recursive: true, force: true });
  return { removedTempFiles: leftovers.length };
}
