import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs the docker CLI; the error carries docker's stderr so a failing test says why. */
export async function docker(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('docker', args, { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`docker ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Fails (never skips) when dockerd is not running: CI starts it in .ci/run. */
export async function requireDocker(): Promise<void> {
  try {
    await run('docker', ['info'], { timeout: 20_000 });
  } catch (error) {
    throw new Error(`dockerd is not reachable (start it with: dockerd --storage-driver=vfs &): ${(error as Error).message}`);
  }
}

/** Builds a real image with `docker import` from a tarball of random files; returns its tag. */
export async function importRandomImage(tag: string, files: Record<string, number>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-img-'));
  try {
    const root = join(dir, 'root');
    await mkdir(root);
    for (const [name, size] of Object.entries(files)) await writeFile(join(root, name), randomBytes(size));
    await run('tar', ['-C', root, '-cf', join(dir, 'image.tar'), '.']);
    await docker('import', join(dir, 'image.tar'), tag);
    return tag;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function imageId(ref: string): Promise<string> {
  return docker('image', 'inspect', '--format', '{{.Id}}', ref);
}

export async function removeImages(...refs: string[]): Promise<void> {
  for (const ref of refs) await docker('rmi', '-f', ref).catch(() => undefined);
}
