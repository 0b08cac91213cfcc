// Files `shoal setup` edits: read when present, backed up before a change, replaced atomically.
import { constants } from 'node:fs';
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../lib/atomic-write.ts';

/** A refusal or failure whose message says what to do; main prints it and exits 1. */
export class SetupError extends Error {
  override name = 'SetupError';
}

export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EACCES' || code === 'EPERM') throw new SetupError(`cannot read ${path} (${code}): run it with sudo`);
    if (code === 'EISDIR') throw new SetupError(`${path} is a directory, not a file`);
    throw new SetupError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

/** `20260128T101112Z`, for backup names. */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

/** Copies `path` to `<path>.shoal-backup-<timestamp>` (never over an existing backup); returns the backup's path. */
export async function backupFile(path: string, now: Date): Promise<string> {
  for (let n = 0; ; n++) {
    const backup = `${path}.shoal-backup-${timestamp(now)}${n === 0 ? '' : `-${n}`}`;
    try {
      await copyFile(path, backup, constants.COPYFILE_EXCL);
      return backup;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && n < 100) continue;
      throw writeError(backup, error);
    }
  }
}

/** Writes a temp file next to `path` and renames it over: a reader sees the old file or the new, never half. Keeps the old mode. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const mode = await stat(path).then((s) => s.mode & 0o777, () => 0o644);
  const dir = dirname(path);
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw writeError(dir, error);
  }
  try {
    await writeFileAtomic(path, text, { mode });
  } catch (error) {
    throw writeError(path, error);
  }
}

function writeError(path: string, error: unknown): SetupError {
  const code = (error as NodeJS.ErrnoException).code;
  const hint = code === 'EACCES' || code === 'EPERM' ? ': run it with sudo' : '';
  return new SetupError(`cannot write ${path} (${code ?? (error as Error).message})${hint}`);
}
