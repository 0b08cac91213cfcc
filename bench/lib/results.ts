// Where a benchmark's JSON goes: bench/results/<name>-<time>.json and <name>-latest.json, with the
// commit it measured.
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './servers.ts';

export function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** Writes `result` (plus the commit) and returns the timestamped file's path. */
export async function writeBenchResult(name: string, result: object): Promise<string> {
  const dir = join(REPO_ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const json = `${JSON.stringify({ ...result, commit: gitCommit() }, null, 2)}\n`;
  await writeFile(file, json);
  await writeFile(join(dir, `${name}-latest.json`), json);
  return file;
}
