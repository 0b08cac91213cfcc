// Credentials from a docker config.json: `docker login` writes them to `auths`, or, with a
// credential helper configured (`credsStore`, `credHelpers`), keeps them there (credential-helpers.ts).
import { readFileSync } from 'node:fs';
import { helperCredentials, runHelper, type RunHelper } from './credential-helpers.ts';
import type { UpstreamCredentials } from './types.ts';

/** The hosts docker treats as Docker Hub; config.json keys it under `https://index.docker.io/v1/`. */
export const DOCKER_HUB_HOSTS: readonly string[] = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];
export const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';

export function isDockerHubHost(host: string): boolean {
  return DOCKER_HUB_HOSTS.includes(host.toLowerCase());
}

/**
 * The host[:port] a config.json key or a URL stands for: `https://host:5000/v1/` → `host:5000`,
 * lowercased, Docker Hub's aliases → `docker.io`.
 */
export function normalizeRegistryHost(key: string): string {
  let host = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  host = host.toLowerCase();
  return isDockerHubHost(host) ? 'docker.io' : host;
}

/** Credentials per normalized registry host, read from a docker config.json. */
export class DockerCredentials {
  readonly #byHost: ReadonlyMap<string, UpstreamCredentials>;
  /** The file they came from, for messages; undefined for an in-memory config. */
  readonly source: string | undefined;
  /** Credential helpers that could not be asked, or failed (credential-helpers.ts): for the log and doctor. */
  readonly problems: readonly string[];

  constructor(byHost: ReadonlyMap<string, UpstreamCredentials>, source?: string, problems: readonly string[] = []) {
    this.#byHost = byHost;
    this.source = source;
    this.problems = problems;
  }

  static empty(source?: string): DockerCredentials {
    return new DockerCredentials(new Map(), source);
  }

  /** Credentials for a registry host (`registry.example.com`, `10.0.0.1:5000`, `docker.io` or its aliases). */
  lookup(host: string): UpstreamCredentials | undefined {
    return this.#byHost.get(normalizeRegistryHost(host));
  }

  get hosts(): string[] {
    return [...this.#byHost.keys()];
  }
}

/**
 * Reads `auths` from a parsed config.json. Each entry has `auth` (base64 of user:password) or
 * `username` + `password`; entries with neither (kept by a helper, identity tokens) are skipped.
 * When two keys name the same host, the bare `host` key wins over URL-style ones. Then asks the
 * helpers it names, as docker does: a `credHelpers` entry wins for its host, else `credsStore`,
 * else the file's entry. `run` runs a helper (tests give their own).
 */
export function parseDockerConfig(json: unknown, source?: string, run: RunHelper = runHelper): DockerCredentials {
  const byHost = new Map<string, UpstreamCredentials>();
  const exact = new Set<string>();
  const auths = isRecord(json) && isRecord(json.auths) ? json.auths : {};
  for (const [key, entry] of Object.entries(auths)) {
    if (!isRecord(entry)) continue;
    const credentials = entryCredentials(entry);
    if (!credentials) continue;
    const host = normalizeRegistryHost(key);
    if (host === '') continue;
    const isExact = key.trim().toLowerCase() === host;
    if (byHost.has(host) && exact.has(host) && !isExact) continue;
    byHost.set(host, credentials);
    if (isExact) exact.add(host);
  }
  if (!isRecord(json)) return new DockerCredentials(byHost, source);
  const helpers = helperCredentials(json, run);
  // As in `auths`, a bare host key wins over URL-style ones for the same host: URL-style first.
  const urlsFirst = (entries: Iterable<[string, UpstreamCredentials]>) => [...entries].sort(([a], [b]) => Number(!a.includes('://')) - Number(!b.includes('://')));
  for (const found of [helpers.byServer, helpers.byHelperHost]) {
    for (const [server, credentials] of urlsFirst(found)) {
      const host = normalizeRegistryHost(server);
      if (host !== '') byHost.set(host, credentials);
    }
  }
  return new DockerCredentials(byHost, source, helpers.problems);
}

function entryCredentials(entry: Record<string, unknown>): UpstreamCredentials | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    return undefined;
  }
  if (typeof entry.username === 'string' && entry.username !== '' && typeof entry.password === 'string') {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/**
 * Loads a docker config.json. A missing file means no credentials; a file that is not JSON
 * throws, naming the file, since silently pulling anonymously would be worse.
 */
export function loadDockerCredentials(path: string | undefined, run: RunHelper = runHelper): DockerCredentials {
  if (!path) return DockerCredentials.empty();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return DockerCredentials.empty(path);
    throw new Error(`cannot read docker config ${path}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`docker config ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseDockerConfig(json, path, run);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
