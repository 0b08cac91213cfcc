// Small files replaced whole: a reader (or a restart after a crash) sees the old content or the
// new, never a mix. The data directory's small files, the peer key and the files `shoal setup` edits.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { renameDurably } from './durable-rename.ts';

export interface AtomicWriteOptions {
  /** Folder for the temp file, on the same filesystem as `path`; default: beside it, as a hidden file. */
  readonly tmpDir?: string;
  /** Permission bits of the new file, exactly (whatever the umask); default 0666 less the umask. */
  readonly mode?: number;
  /** Permission bits of `path`'s folder when it has to be created. */
  readonly dirMode?: number;
}

/** Temp file, fsync, rename over `path`, fsync the folder; the temp file is removed on failure. */
export async function writeFileAtomic(path: string, content: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  if (options.tmpDir === undefined) await mkdir(dir, { recursive: true, ...(options.dirMode !== undefined ? { mode: options.dirMode } : {}) });
  const tmp = join(options.tmpDir ?? dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'wx', options.mode ?? 0o666);
    try {
      await handle.writeFile(content);
      if (options.mode !== undefined) await handle.chmod(options.mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await renameDurably(tmp, path, options.dirMode);
  } catch (error) {
    // A full disk: leave no half-written temp file behind until the next start.
    await rm(tmp, { force: true });
    throw error;
  }
}
