import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readTextIfExists } from './files.ts';
import type { Layout } from './layout.ts';

/**
 * `<data-dir>/shoal/daemon.pid`: written by a running daemon, so that tools working on the data
 * directory directly (`shoal gc`) can refuse to run under it. A file left by a crash names a
 * process that is gone, and is ignored.
 */
export function daemonPidPath(layout: Layout): string {
  return join(layout.root, 'shoal', 'daemon.pid');
}

/**
 * Makes this process the data directory's daemon, or says which live daemon already is. The file
 * is created whole or not at all (a hard link of a written temp file fails if it exists), so two
 * daemons starting at the same moment cannot both pass; one left by a crash is replaced. The
 * returned function removes the file if it still names this process.
 */
export async function claimDaemonPid(layout: Layout): Promise<{ readonly release: () => Promise<void> } | { readonly other: number }> {
  const path = daemonPidPath(layout);
  await mkdir(dirname(path), { recursive: true });
  const mine = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(mine, path);
        return { release: async () => {
          if ((await readTextIfExists(path).catch(() => undefined))?.trim() === String(process.pid)) await rm(path, { force: true });
        } };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const stale = (await readTextIfExists(path).catch(() => undefined))?.trim();
      const other = await runningDaemonPid(layout);
      if (other !== undefined) return { other };
      // Left by a crash: moved aside, not removed, so a fresh file another daemon linked meanwhile
      // (it judged the same stale file) is seen and put back rather than deleted.
      const aside = `${mine}.stale`;
      const moved = await rename(path, aside).then(() => true, () => false);
      if (moved && (await readTextIfExists(aside).catch(() => undefined))?.trim() !== stale) await link(aside, path).catch(() => undefined);
      await rm(aside, { force: true });
    }
    throw new Error(`${path} keeps coming back: is another daemon starting on this data directory at the same moment?`);
  } finally {
    await rm(mine, { force: true });
  }
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
  // daemon, and taking it for one would keep shoal from starting at all. A daemon runs shoal's entry
  // (bin/shoal.js, or an installed `shoal`) with `serve`.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline === undefined) return pid;
  const args = cmdline.split('\0');
  return args.some((arg) => /(^|\/)shoal(\.js)?$/.test(arg)) && args.includes('serve') ? pid : undefined;
}
