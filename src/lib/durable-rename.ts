// The commit step of every write that must survive a crash: the bytes are fsynced, the file is
// renamed under its final name, and the directory is fsynced so the rename itself is on disk.
// A crash at any point leaves the old state or the new one, never half a file under the name.
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsyncs a directory so a rename inside it survives a power cut. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Renames `from` to `to` (creating `to`'s folder) and fsyncs that folder; `from` must already be fsynced. */
export async function renameDurably(from: string, to: string, dirMode?: number): Promise<void> {
  await mkdir(dirname(to), { recursive: true, ...(dirMode !== undefined ? { mode: dirMode } : {}) });
  await rename(from, to);
  await syncDirectory(dirname(to));
}

/** fsyncs and closes `handle` (open on `from`; closed even when the fsync fails), then renames the file durably to `to`. */
export async function commitFile(handle: FileHandle, from: string, to: string): Promise<void> {
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await renameDurably(from, to);
}
