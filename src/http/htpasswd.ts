import { readFile } from 'node:fs/promises';
import { unreadableReason } from '../lib/fs-errors.ts';

/**
 * An Apache htpasswd file as registry:2 reads it: `user:hash` lines, bcrypt hashes only
 * (`htpasswd -B`, `$2y$`/`$2b$`/`$2a$`). Blank lines and `#` comments are skipped. Other hash
 * kinds (MD5 `$apr1$`, `{SHA}`, crypt) are refused with the line named, never silently ignored:
 * a user who cannot log in is easier to diagnose at start-up than at the first push.
 */
export type Htpasswd = ReadonlyMap<string, string>;

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

/** The users of a file that may hold none (a running node re-reading it: no users is a valid state). */
export function parseHtpasswdUsers(text: string, path: string): Htpasswd {
  const users = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (const [index, rawLine] of lines.entries()) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${path}:${index + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`${where}: expected user:hash`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!BCRYPT.test(hash)) {
      throw new Error(`${where}: the hash of ${JSON.stringify(user)} is not bcrypt; write it with htpasswd -B (registry:2 reads bcrypt only too)`);
    }
    if (users.has(user)) throw new Error(`${where}: user ${JSON.stringify(user)} appears twice`);
    users.set(user, hash);
  }
  return users;
}

/** At start-up a file without users is a mistake: say so rather than start with no one able to push. */
export function parseHtpasswd(text: string, path: string): Htpasswd {
  const users = parseHtpasswdUsers(text, path);
  if (users.size === 0) throw new Error(`${path} has no users; add one with htpasswd -B ${path} NAME`);
  return users;
}

export async function loadHtpasswd(path: string): Promise<Htpasswd> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${path} (${unreadableReason(path, error)})`);
  }
  return parseHtpasswd(text, path);
}
