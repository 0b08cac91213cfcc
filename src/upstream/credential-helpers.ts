// docker's credential helpers: with `credsStore` (one helper for every registry) or `credHelpers`
// (a helper per registry host) in config.json, `docker login` keeps the secret in the helper and
// leaves `auths` empty, so reading the file alone found no credentials for those registries.
// Asked as docker asks them (docker-credential-helpers' protocol): `docker-credential-<name> get`
// with the server address on stdin answers {"ServerURL","Username","Secret"}; `list` answers
// {"<server address>": "<username>"}. Asked once, when the config is loaded: a helper can be slow
// (it may unlock a keyring), and a daemon must not block on one at request time.
import { execFileSync } from 'node:child_process';
import type { UpstreamCredentials } from './types.ts';

/** How long one helper call may take... */
export const HELPER_TIMEOUT_MS = 10_000;
/** ...and all of them together (a daemon starting waits for them). */
export const HELPERS_TOTAL_MS = 30_000;
/** Registries asked of a `credsStore` at most (its `list`). */
export const MAX_STORE_ENTRIES = 100;
/** docker's username for an identity token (an OAuth refresh token, not a password shoal can send). */
const IDENTITY_TOKEN_USER = '<token>';

/** Runs `docker-credential-<helper> <action>` with `input` on stdin, for at most `timeoutMs`; its stdout, or it throws. */
export type RunHelper = (helper: string, action: 'get' | 'list', input: string, timeoutMs: number) => string;

export const runHelper: RunHelper = (helper, action, input, timeoutMs) =>
  execFileSync(`docker-credential-${helper}`, [action], { input, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });

export interface HelperCredentials {
  /** Credentials by the server address the helper knows them under (a host, or a URL for Docker Hub). */
  readonly byServer: ReadonlyMap<string, UpstreamCredentials>;
  /** From `credHelpers`: these win over the store's and the file's for their host. */
  readonly byHelperHost: ReadonlyMap<string, UpstreamCredentials>;
  /** What went wrong, for the daemon's log and doctor (a helper not installed, one that failed). */
  readonly problems: readonly string[];
}

/** A helper name is a suffix of a program name: nothing that could name another path. */
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Asks the helpers a parsed config.json names (`credsStore`, `credHelpers`) for their credentials. */
export function helperCredentials(config: Record<string, unknown>, run: RunHelper = runHelper, now: () => number = Date.now): HelperCredentials {
  const byServer = new Map<string, UpstreamCredentials>();
  const byHelperHost = new Map<string, UpstreamCredentials>();
  const problems: string[] = [];
  const deadline = now() + HELPERS_TOTAL_MS;
  /** Helpers not asked again: not installed, or one that did not answer in time (a locked keyring). */
  const givenUp = new Set<string>();
  const call = (helper: string, action: 'get' | 'list', input: string): string => {
    const left = Math.min(HELPER_TIMEOUT_MS, deadline - now());
    if (givenUp.has(helper)) throw new GivenUp();
    if (left <= 0) {
      givenUp.add(helper);
      problems.push(`docker credential helpers took longer than ${HELPERS_TOTAL_MS / 1000} s together; docker-credential-${helper} was not asked for the rest`);
      throw new GivenUp();
    }
    try {
      return run(helper, action, input, left);
    } catch (error) {
      if (isNotInstalled(error) || isTimeout(error)) givenUp.add(helper);
      throw error;
    }
  };
  const ask = (helper: string, server: string, where: string): UpstreamCredentials | undefined => {
    try {
      return parseGet(call(helper, 'get', server));
    } catch (error) {
      if (error instanceof GivenUp) return undefined;
      const text = failure(error);
      // The helper's own answer when it holds nothing for the server: not a problem.
      if (!/credentials not found/i.test(text)) problems.push(`docker credential helper docker-credential-${helper} (${where}) failed for ${server}: ${text}`);
      return undefined;
    }
  };
  const store = config.credsStore;
  if (typeof store === 'string' && store !== '') {
    if (!HELPER_NAME.test(store)) problems.push(`credsStore ${JSON.stringify(store)} is not a credential helper name; ignored`);
    else {
      let servers: string[] = [];
      try {
        servers = Object.keys(parseRecord(call(store, 'list', '')));
      } catch (error) {
        if (!(error instanceof GivenUp)) problems.push(`docker credential helper docker-credential-${store} (credsStore) could not list its registries: ${failure(error)}; install it on this host or log in without it (docker logout, then docker login with "credsStore" removed from config.json)`);
      }
      // Docker Desktop keeps other things in the same store (".../v1/access-token"): only registry addresses.
      servers = servers.filter(isRegistryAddress);
      if (servers.length > MAX_STORE_ENTRIES) problems.push(`docker-credential-${store} lists ${servers.length} registries; only the first ${MAX_STORE_ENTRIES} are asked`);
      for (const server of servers.slice(0, MAX_STORE_ENTRIES)) {
        const found = ask(store, server, 'credsStore');
        if (found) byServer.set(server, found);
      }
    }
  }
  const helpers = config.credHelpers;
  if (typeof helpers === 'object' && helpers !== null && !Array.isArray(helpers)) {
    for (const [host, helper] of Object.entries(helpers).slice(0, MAX_STORE_ENTRIES)) {
      if (typeof helper !== 'string' || !HELPER_NAME.test(helper)) {
        problems.push(`credHelpers entry for ${host} does not name a credential helper; ignored`);
        continue;
      }
      const found = ask(helper, host, 'credHelpers');
      if (found) byHelperHost.set(host, found);
    }
  }
  return { byServer, byHelperHost, problems };
}

/** A registry's address as docker logs in to it: `host[:port]`, or a URL with no path past `/v1/` or `/v2/`. */
export function isRegistryAddress(server: string): boolean {
  return /^([a-z][a-z0-9+.-]*:\/\/)?[^/\s]+(\/(v[12]\/?)?)?$/i.test(server.trim());
}

function parseGet(stdout: string): UpstreamCredentials | undefined {
  const answer = parseRecord(stdout);
  const username = answer.Username;
  const secret = answer.Secret;
  if (typeof username !== 'string' || typeof secret !== 'string' || username === '' || username === IDENTITY_TOKEN_USER) return undefined;
  return { username, password: secret };
}

function parseRecord(stdout: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(stdout);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`not a JSON object: ${stdout.slice(0, 80)}`);
  return parsed as Record<string, unknown>;
}

/** A helper not asked again (see helperCredentials); its first failure was reported. */
class GivenUp extends Error {}

type ExecError = NodeJS.ErrnoException & { stdout?: string; stderr?: string; signal?: string };
const isNotInstalled = (error: unknown): boolean => (error as ExecError).code === 'ENOENT';
const isTimeout = (error: unknown): boolean => (error as ExecError).code === 'ETIMEDOUT' || (error as ExecError).signal === 'SIGTERM';

/** A helper's failure in a line: not installed, timed out, or what it printed. */
function failure(error: unknown): string {
  const e = error as ExecError;
  if (isNotInstalled(e)) return 'not installed (not found on PATH)';
  if (isTimeout(e)) return `no answer within ${HELPER_TIMEOUT_MS / 1000} s`;
  const said = `${e.stdout ?? ''} ${e.stderr ?? ''}`.trim().split('\n')[0];
  return said ? said.slice(0, 200) : (e.message ?? String(error)).split('\n')[0]!.slice(0, 200);
}
