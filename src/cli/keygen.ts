// `shoal keygen`: a new cluster key, to a file (mode 0600) or to stdout.
import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from '../config/errors.ts';
import { resolvePath } from '../config/parse.ts';

export interface KeygenOptions {
  readonly output?: string;
  readonly force?: boolean;
}

export interface KeygenEnvironment {
  readonly cwd: string;
  readonly homedir: string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const DISTRIBUTE = 'copy it to every host and start shoal with --cluster-key';

export async function keygen(options: KeygenOptions, cli: KeygenEnvironment): Promise<void> {
  // Imported here: it loads @libp2p/pnet, which no other command needs.
  const { generateClusterKey } = await import('../swarm/cluster-key.ts');
  const key = generateClusterKey();
  if (options.output === undefined) {
    cli.stdout(key);
    cli.stderr(`shoal: keep this key secret (--output FILE writes it with mode 0600); ${DISTRIBUTE} FILE\n`);
    return;
  }
  const path = resolvePath(options.output, cli.cwd, cli.homedir);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory()) throw new ConfigError(`--output ${path} is a directory; name the key file to write`);
  if (existing !== undefined && options.force !== true) {
    throw new ConfigError(`--output ${path} exists; refusing to overwrite it (hosts holding that key could no longer join); pass --force to replace it`);
  }
  if (options.force === true) {
    // A fresh file renamed over the old one: the old file's mode does not carry over, and a
    // failure halfway leaves the old key intact.
    const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
    await writeSecretFile(temp, key);
    await rename(temp, path).catch(async (error: unknown) => {
      await unlink(temp).catch(() => {});
      throw cannotWrite(path, error);
    });
  } else {
    await writeSecretFile(path, key);
  }
  cli.stderr(`shoal: wrote a new cluster key to ${path} (mode 0600); ${DISTRIBUTE} ${path}\n`);
}

/** Creates `path` (never replaces one: another keygen may have raced us) readable by its owner only. */
async function writeSecretFile(path: string, text: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new ConfigError(`--output ${path} exists; refusing to overwrite it; pass --force to replace it`);
    throw cannotWrite(path, error);
  }
  try {
    await handle.chmod(0o600); // exact, whatever the umask
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw cannotWrite(path, error);
  }
  await handle.close();
}

function cannotWrite(path: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const hint = code === 'ENOENT' ? `: its directory ${dirname(path)} does not exist; create it first`
    : code === 'EACCES' || code === 'EPERM' ? `: no permission to write in ${dirname(path)}; choose another --output or run as its owner`
    : code === 'EISDIR' ? ': that is a directory; name a file in it' : '';
  return new Error(`cannot write cluster key ${path} (${code ?? String(error)})${hint}`);
}
