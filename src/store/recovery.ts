import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sweepKept, type KeptPartial } from './kept-partial.ts';
import type { Layout } from './layout.ts';

/**
 * Run once at startup, before anything is served: temp files are what a crash left behind in
 * the middle of a write; they were never visible under a digest, so they are removed.
 * Upload sessions (`_uploads`) are kept: a client may resume them; they expire by age. So are
 * blobs a fetch had partly written (`shoal/partials`, with their fsynced pieces listed): the next
 * fetch of the digest goes on from them; ones with no complete piece, or too old, are removed.
 * Returns those kept (they count as used disk: BlobStore.countKept).
 */
export async function recoverStore(layout: Layout): Promise<{ removedTempFiles: number; kept: KeptPartial[] }> {
  await mkdir(layout.tmp, { recursive: true });
  await mkdir(layout.blobsRoot(), { recursive: true });
  await mkdir(layout.repositoriesRoot(), { recursive: true });
  const leftovers = await readdir(layout.tmp);
  for (const name of leftovers) await rm(join(layout.tmp, name), { recursive: true, force: true });
  const { kept, removed } = await sweepKept(layout);
  return { removedTempFiles: leftovers.length + removed, kept };
}
