import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from './files.ts';
import type { Layout } from './layout.ts';

/**
 * `<data-dir>/shoal/daemon.pid`: written by a running daemon, so that tools working on the data
 * directory directly (`shoal gc`) can refuse to run under it. A file left by a crash names a
 * process that is gone, and is ignored.
 */
export function daemonPidPath(layout: Layout): string {
  return join(layout.root, 'shoal', 'daemon.pid');
}

/** Writes this process's pid; the returned function removes the file if it still names this process. */
export async function writeDaemonPid(layout: Layout): Promise<() => Promise<void>> {
  const path = daemonPidPath(layout);
  await writeFileAtomic(path, `${process.pid}\n`, layout.tmp);
  return async () => {
    if ((await readTextIfExists(path).catch(() => undefined))?.trim() === String(process.pid)) await rm(path, { force: true });
  };
}

/** The pid of a live daemon using this data directory, if any (never this process). */
export async function runningDaemonPid(layout: Layout): Promise<number | undefined> {
  const text = await readTextIfExists(daemonPidPath(layout));
  const pid = Number(text?.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive, owned by someone else.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  // A file left by a crash before a reboot can name a pid some other program has now: that is no
  // daemon, and taking it for one would keep shoal from starting at all.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return cmdline === undefined || cmdline.includes('shoal') ? pid : undefined;
}
