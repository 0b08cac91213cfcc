// The users of the htpasswd file while the node runs: re-read when the file changes, passwords
// checked with bcrypt behind a short cache. auth.ts decides what they may do.
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { compare } from 'bcryptjs';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { loadHtpasswd, parseHtpasswdUsers, type Htpasswd } from './htpasswd.ts';

/** A correct password is not re-checked with bcrypt for this long. */
export const VERIFIED_TTL_MS = 5 * 60_000;
/** A wrong one is answered from the cache for this long (a client retrying it costs no bcrypt). */
export const REJECTED_TTL_MS = 10_000;
/** The htpasswd file is stat'ed at most this often to notice edits. */
export const RELOAD_CHECK_MS = 2_000;
const CACHE_LIMIT = 4096;
/** bcrypt of a random password: unknown users cost a comparison too, so timing does not tell which users exist. */
const DUMMY_HASH = '$2b$10$BYAHSb5VgbykaxjPbaQVU.nB2jjndAUedLn7O/VEIiXwBI2rjFnv.';

export class HtpasswdUsers {
  readonly #path: string;
  readonly #logger: Logger;
  readonly #now: () => number;
  /** Per process: cache keys mean nothing outside it. */
  readonly #secret = randomBytes(32);
  readonly #cache = new LRUCache<string, { ok: boolean; until: number }>({ max: CACHE_LIMIT });
  readonly #pending = new Map<string, Promise<boolean>>();
  #users: Htpasswd;
  #fileStamp: string;
  #bcryptChecks = 0;
  #checkedAt: number;

  private constructor(path: string, logger: Logger, now: () => number, users: Htpasswd, stamp: string) {
    this.#path = path;
    this.#logger = logger;
    this.#now = now;
    this.#users = users;
    this.#fileStamp = stamp;
    this.#checkedAt = now();
  }

  static async open(path: string, logger: Logger, now: () => number): Promise<HtpasswdUsers> {
    const stamp = await fileStamp(path);
    return new HtpasswdUsers(path, logger, now, await loadHtpasswd(path), stamp ?? '');
  }

  get size(): number {
    return this.#users.size;
  }

  /** bcrypt comparisons run so far (the cache's effect is visible in tests and metrics). */
  get bcryptChecks(): number {
    return this.#bcryptChecks;
  }

  has(user: string): boolean {
    return this.#users.has(user);
  }

  /**
   * bcrypt is slow by design (~65 ms per check here) and docker sends Basic credentials with every
   * request, so results are cached briefly, keyed by an HMAC of user, password and hash (never the
   * password itself); a changed file drops the cache.
   */
  verify(user: string, password: string): Promise<boolean> {
    const hash = this.#users.get(user);
    const key = createHmac('sha256', this.#secret).update(user).update('\0').update(password).update('\0').update(hash ?? '').digest('base64');
    const cached = this.#cache.get(key);
    if (cached && cached.until > this.#now()) return Promise.resolve(cached.ok);
    const running = this.#pending.get(key);
    if (running) return running;
    this.#bcryptChecks += 1;
    const check = (hash === undefined ? compare(password, DUMMY_HASH).then(() => false) : compare(password, hash))
      .catch(() => false)
      .then((ok) => {
        this.#cache.set(key, { ok, until: this.#now() + (ok ? VERIFIED_TTL_MS : REJECTED_TTL_MS) });
        return ok;
      })
      .finally(() => this.#pending.delete(key));
    this.#pending.set(key, check);
    return check;
  }

  /**
   * A missing or emptied file means no users, at once: removing the last user (`htpasswd -D`) or
   * the file must not leave the users read before valid. A file that cannot be parsed (an edit
   * half written, a non-bcrypt hash) keeps them until it is fixed, and the log says so.
   */
  async reloadIfChanged(): Promise<void> {
    const now = this.#now();
    if (now - this.#checkedAt < RELOAD_CHECK_MS) return;
    this.#checkedAt = now;
    const stamp = await fileStamp(this.#path);
    if (stamp === undefined) {
      if (this.#fileStamp !== '') this.#logger.warn({ path: this.#path }, 'htpasswd file is gone: no users until it is back, so pushes and logins are refused');
      this.#fileStamp = '';
      this.#setUsers(new Map());
      return;
    }
    if (stamp === this.#fileStamp) return;
    this.#fileStamp = stamp;
    try {
      this.#setUsers(parseHtpasswdUsers(await readFile(this.#path, 'utf8'), this.#path));
      this.#logger.info({ path: this.#path, users: this.#users.size }, this.#users.size === 0 ? 'htpasswd file has no users: pushes and logins are refused' : 'htpasswd file changed: users re-read');
    } catch (error) {
      this.#logger.error({ path: this.#path, err: error }, 'htpasswd file changed but cannot be used; the users read before stay valid until it is fixed');
    }
  }

  #setUsers(users: Htpasswd): void {
    this.#users = users;
    this.#cache.clear();
  }
}

async function fileStamp(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    return `${info.mtimeMs}:${info.size}:${info.ino}`;
  } catch {
    return undefined;
  }
}
