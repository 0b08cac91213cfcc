// Children and temp dirs a benchmark made, removed however it ends: normally through
// `cleanupAll()` in a finally block, on SIGINT/SIGTERM through the signal handlers below, and on
// any other exit (uncaught error, process.exit) by a synchronous last resort.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const stoppers = new Set<() => Promise<void>>();

let installed = false;
function install(): void {
  if (installed) return;
  installed = true;
  process.once('exit', () => {
    for (const child of children) child.kill('SIGKILL');
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping servers and removing temp dirs\n`);
      cleanupAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
}

/** Kills `child` (SIGKILL) if the benchmark process exits while it is still running. */
export function trackChild(child: ChildProcess): void {
  install();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Removes `dir` when the benchmark ends, if nobody removed it before. */
export function trackTempDir(dir: string): string {
  install();
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** A graceful stop run by `cleanupAll()` (servers register theirs; they unregister once stopped). */
export function onCleanup(stop: () => Promise<void>): () => void {
  install();
  stoppers.add(stop);
  return () => stoppers.delete(stop);
}

/** Stops every server still running, then removes every temp dir still there. */
export async function cleanupAll(): Promise<void> {
  await Promise.allSettled([...stoppers].map((stop) => stop()));
  stoppers.clear();
  for (const child of children) child.kill('SIGKILL');
  await Promise.allSettled([...tempDirs].map((dir) => removeTempDir(dir)));
}
