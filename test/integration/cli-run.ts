// Runs `node bin/shoal.js ...` as a real process, the way an operator does, for the cli-*.test.ts
// files: no SHOAL_* variables and a temp HOME, so the host's settings cannot leak in.
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const NODE = join(ROOT, 'node_modules', '.bin', 'node');
export const SHOAL = join(ROOT, 'bin', 'shoal.js');

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: Record<string, string>;
  readonly home?: string;
  readonly timeoutMs?: number;
}

export function runShoal(args: readonly string[], options: RunOptions = {}): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHOAL_') && name !== 'DOCKER_CONFIG' && name !== 'NO_COLOR'));
  return new Promise((done) => {
    execFile(NODE, [SHOAL, ...args], {
      cwd: ROOT,
      env: { ...env, ...(options.home ? { HOME: options.home } : {}), ...options.env },
      timeout: options.timeoutMs ?? 60_000,
      maxBuffer: 16 * 1024 * 1024,
    }, (error, stdout, stderr) => {
      done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

/** Any ANSI/VT control sequence or a bare carriage return: what a pipe must never get. */
export const CONTROL_CODES = /\x1b|\r/;
