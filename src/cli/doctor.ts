// `shoal doctor`: checks what commonly breaks a node and says how to fix each, one line per check
// (ok / warn / fail). Exit code 0 when nothing failed.
import { randomBytes } from 'node:crypto';
import { readFile, statfs, unlink, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { formatHostPort, type HostPort } from '../config/parse.ts';
import type { ShoalConfig, UpstreamCredentials } from '../config/types.ts';
import { loadDockerCredentials, type DockerCredentials } from '../upstream/docker-credentials.ts';
import { DaemonRequestError, daemonBaseUrl, describeNetworkError, fetchStatus, START_HINT, type NodeStatus } from './daemon-client.ts';
import { checkClock, checkClusterKey, checkMdns, checkPeers, checkPorts } from './doctor-swarm.ts';
import { probeTls, skipVerifyWarnings, type UpstreamProbeTls } from './doctor-tls.ts';
import { fetch as probeFetch } from 'undici';
import { DEFAULT_DOCKER_DAEMON_JSON, mirrorUrl, mentionsDaemon, wantsDockerHub } from './setup.ts';
import { formatBytes } from '../lib/bytes.ts';
import { paint, type ClientIo } from './terminal.ts';
import type { CheckResult } from './doctor-check.ts';

export type { CheckResult, Level } from './doctor-check.ts';

export interface DoctorOptions {
  /** docker's daemon.json (default /etc/docker/daemon.json). */
  readonly dockerConfig?: string;
  readonly json?: boolean;
}

const PROBE_TIMEOUT_MS = 5000;
const LOW_DISK_BYTES = 1024 ** 3;

/** Resolves to the exit code: 1 when any check failed. */
export async function doctor(options: DoctorOptions, config: ShoalConfig, io: ClientIo): Promise<number> {
  const results = await runChecks(options, config, (result) => {
    if (options.json !== true) io.stdout(`${renderCheck(result, io.color)}\n`);
  });
  const failures = results.filter((r) => r.level === 'fail').length;
  const warnings = results.filter((r) => r.level === 'warn').length;
  if (options.json === true) {
    io.stdout(`${JSON.stringify({ ok: failures === 0, checks: results }, null, 2)}\n`);
  } else {
    io.stdout(`${failures === 0 ? 'no problems that stop shoal' : `${failures} ${failures === 1 ? 'check' : 'checks'} failed`}; ${warnings} ${warnings === 1 ? 'warning' : 'warnings'}\n`);
  }
  return failures === 0 ? 0 : 1;
}

/** `ok    upstream   http://... reachable`, with `→ fix` after warnings and failures. */
export function renderCheck(result: CheckResult, color = false): string {
  const level = paint(color, result.level === 'ok' ? 'green' : result.level === 'warn' ? 'yellow' : 'red', result.level.padEnd(4));
  const fix = result.fix !== undefined && result.level !== 'ok' ? `; fix: ${result.fix}` : '';
  return `${level}  ${result.name.padEnd(10)}  ${result.message}${fix}`;
}

/** Runs every check in order, reporting each as soon as it is known. */
export async function runChecks(options: DoctorOptions, config: ShoalConfig, report: (result: CheckResult) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (result: CheckResult): void => {
    results.push(result);
    report(result);
  };
  const baseUrl = daemonBaseUrl(config.listen);

  let status: NodeStatus | undefined;
  try {
    status = await fetchStatus(baseUrl, PROBE_TIMEOUT_MS);
    add({ name: 'daemon', level: 'ok', message: `shoal ${status.node.version} answers at ${baseUrl}` });
  } catch (error) {
    add({
      name: 'daemon', level: 'fail', message: (error as Error).message.replace(/; is shoal running\?.*$/, ''),
      fix: error instanceof DaemonRequestError
        ? error.status === 401 ? `the node needs a login: docker login ${formatHostPort(config.listen)} (shoal uses docker's credentials for it)` : 'point --listen (or SHOAL_LISTEN, http.addr) at the shoal daemon'
        : START_HINT,
    });
  }

  add(await checkDataDir(status?.node.dataDir ?? config.dataDir, status !== undefined));

  const upstreams = status
    ? status.upstreams.filter((u) => u.configured)
    : config.upstreams.map((u) => ({ url: u.url, state: 'up', consecutiveFailures: 0, lastError: undefined as string | undefined }));
  if (upstreams.length === 0) {
    add({ name: 'upstream', level: 'ok', message: 'none configured: a standalone registry (only pushed images are served)' });
  }
  const docker = dockerCredentials(config);
  for (const upstream of upstreams) {
    const credentials = credentialsFor(upstream.url, config, docker);
    const tls = probeTls(upstream.url, config);
    if (!('dispatcher' in tls)) {
      add(tls);
      continue;
    }
    try {
      add(await checkUpstream(upstream.url, credentials, status ? { state: upstream.state, lastError: upstream.lastError } : undefined, tls));
    } finally {
      await tls.close();
    }
  }
  for (const problem of docker?.problems ?? []) {
    add({ name: 'upstream', level: 'warn', message: `${problem} (${docker?.source ?? 'docker config'})`, fix: 'install that helper on this host, or log in to the seed without one (remove "credsStore"/"credHelpers" from the docker config, then docker login), or give --upstream-username and --upstream-password-file' });
  }
  for (const warning of skipVerifyWarnings(config)) add(warning);
  for (const upstream of status?.upstreams.filter((u) => !u.configured && u.state !== 'up') ?? []) {
    add({ name: 'upstream', level: 'warn', message: `${upstream.url} (named in an image) is marked down: ${upstream.lastError ?? 'failing'}`, fix: 'check that registry, or pull images it does not hold by another name' });
  }

  if (status !== undefined) {
    add(await checkMdns(status));
    add(checkPeers(status));
    if (status.swarm.enabled) add(checkClusterKey(status));
    add(await checkPorts(status));
  }

  add(await checkDockerConfig(options.dockerConfig ?? DEFAULT_DOCKER_DAEMON_JSON, config.listen, upstreams.map((u) => u.url)));

  if (status !== undefined) add(checkClock(status));
  return results;
}

// ---- data directory ----

async function checkDataDir(dir: string, daemonRunning: boolean): Promise<CheckResult> {
  const probe = join(dir, `.shoal-doctor-${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(probe, 'shoal doctor\n', { flag: 'wx' });
    await unlink(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    if (code === 'ENOENT' && !daemonRunning) {
      return { name: 'data dir', level: 'warn', message: `${dir} does not exist yet`, fix: 'shoal creates it at start; check --data-dir if this is not where images belong' };
    }
    if ((code === 'EACCES' || code === 'EPERM') && process.getuid?.() !== 0) {
      return {
        name: 'data dir', level: 'warn', message: `${dir} is not writable by ${userInfo().username} (${code})`,
        fix: 'if the daemon runs as another user, run shoal doctor as that user (sudo -u <user> npx shoal doctor); otherwise give it the directory (chown)',
      };
    }
    const fixes: Record<string, string> = {
      ENOENT: 'the daemon\'s data directory is gone: restart shoal, or check --data-dir',
      EROFS: 'the file system is read-only: remount it read-write or choose another --data-dir',
      ENOSPC: 'the disk is full: free space or choose another --data-dir',
      EACCES: 'give the daemon\'s user write access (chown) or choose another --data-dir',
      EPERM: 'give the daemon\'s user write access (chown) or choose another --data-dir',
    };
    return { name: 'data dir', level: 'fail', message: `cannot write to ${dir} (${code})`, fix: fixes[code] ?? 'check the directory and --data-dir' };
  }
  try {
    const fs = await statfs(dir);
    const free = fs.bavail * fs.bsize;
    const size = fs.blocks * fs.bsize;
    if (free < LOW_DISK_BYTES || (size > 0 && free / size < 0.05)) {
      return { name: 'data dir', level: 'warn', message: `${dir} is writable but only ${formatBytes(free)} of ${formatBytes(size)} is free`, fix: 'free space, or move --data-dir to a bigger disk: layers that do not fit cannot be cached' };
    }
    return { name: 'data dir', level: 'ok', message: `${dir} is writable, ${formatBytes(free)} free` };
  } catch {
    return { name: 'data dir', level: 'ok', message: `${dir} is writable` };
  }
}

// ---- upstream registries ----

function credentialsFor(url: string, config: ShoalConfig, docker: DockerCredentials | undefined): UpstreamCredentials | undefined {
  return config.upstreams.find((u) => sameOrigin(u.url, url))?.credentials ?? docker?.lookup(url);
}

/** The docker config's credentials, helpers asked; undefined when it cannot be read (the seed is then checked as anonymous). */
function dockerCredentials(config: ShoalConfig): DockerCredentials | undefined {
  try {
    return loadDockerCredentials(config.dockerConfigPath);
  } catch {
    return undefined;
  }
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return a === b;
  }
}

const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|EPROTO/i;

function networkFix(code: string, url: string): string {
  if (code === 'ECONNREFUSED') return `start the seed registry at ${url}, or correct --upstream`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'the host name does not resolve: check --upstream and DNS';
  if (code === 'timed out' || code === 'ETIMEDOUT') return 'no answer: check that the host is up and that a firewall does not drop the port';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'no route to the host: check the network and --upstream';
  // https failures were named by their TLS problem before this (doctor-tls.ts).
  if (TLS_CODES.test(code) && !url.startsWith('https:')) return 'the seed speaks TLS: use https:// in --upstream';
  return 'check that the seed registry runs and --upstream names it';
}

async function checkUpstream(
  url: string, credentials: UpstreamCredentials | undefined, health: { state: string; lastError: string | undefined } | undefined, tls: UpstreamProbeTls,
): Promise<CheckResult> {
  const name = 'upstream';
  const probe = new URL('/v2/', url).toString();
  const down = health?.state === 'down' ? ` (shoal marks it down: ${health.lastError ?? 'failing'})` : '';
  const { dispatcher } = tls;
  let response: Awaited<ReturnType<typeof probeFetch>>;
  try {
    response = await probeFetch(probe, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS), redirect: 'manual', dispatcher });
    await response.arrayBuffer().catch(() => undefined);
  } catch (error) {
    const explained = await tls.explain(error, PROBE_TIMEOUT_MS);
    if (explained) return { name, level: 'fail', message: `${url}: TLS handshake failed (${explained.code})${down}`, fix: explained.fix };
    const code = describeNetworkError(error);
    return { name, level: 'fail', message: `${url} is not reachable (${code})${down}`, fix: networkFix(code, url) };
  }
  if (response.status === 200) {
    if (down !== '') return { name, level: 'warn', message: `${url} answers now${down}`, fix: 'shoal tries it again within 30 s; if it keeps failing, check the seed\'s logs' };
    return { name, level: 'ok', message: `${url} reachable, no login needed` };
  }
  if (response.status !== 401) {
    return { name, level: 'fail', message: `${url} answered ${response.status} at /v2/: not a registry API root${down}`, fix: 'give --upstream the registry\'s base URL (scheme, host and port; no path)' };
  }
  const challenge = response.headers.get('www-authenticate') ?? '';
  const who = credentials ? `user ${credentials.username}` : 'anonymous';
  const basic = credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined;
  try {
    if (/^basic/i.test(challenge)) {
      if (basic === undefined) {
        return { name, level: 'warn', message: `${url} reachable; it wants a login and no credentials are configured for it here`, fix: `set --upstream-username and --upstream-password-file (or docker login ${new URL(url).host}) for the daemon` };
      }
      const again = await probeFetch(probe, { headers: { authorization: basic }, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS), dispatcher });
      await again.arrayBuffer().catch(() => undefined);
      if (again.status === 200) return { name, level: 'ok', message: `${url} reachable, ${who} logged in (basic auth)${down}` };
      return { name, level: 'fail', message: `${url} rejected the credentials of ${who} (${again.status})`, fix: 'check the user name and password (--upstream-username, --upstream-password-file, or docker login)' };
    }
    const realm = /realm="([^"]*)"/i.exec(challenge)?.[1];
    if (/^bearer/i.test(challenge) && realm) {
      const tokenUrl = new URL(realm);
      const service = /service="([^"]*)"/i.exec(challenge)?.[1];
      if (service) tokenUrl.searchParams.set('service', service);
      const token = await probeFetch(tokenUrl, { headers: basic ? { authorization: basic } : {}, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS), dispatcher });
      await token.arrayBuffer().catch(() => undefined);
      if (token.status === 200) {
        return { name, level: 'ok', message: `${url} reachable, token service ${tokenUrl.host} accepts ${who}${credentials ? '' : ' (public images only)'}${down}` };
      }
      if (token.status === 401 || token.status === 403) {
        return credentials
          ? { name, level: 'fail', message: `${url}: token service ${tokenUrl.host} rejected the credentials of ${who} (${token.status})`, fix: 'check the user name and password (--upstream-username, --upstream-password-file, or docker login)' }
          : { name, level: 'warn', message: `${url} reachable; its token service wants a login and no credentials are configured for it here`, fix: `set --upstream-username and --upstream-password-file (or docker login ${new URL(url).host}) for the daemon` };
      }
      return { name, level: 'fail', message: `${url}: token service ${tokenUrl} answered ${token.status}`, fix: 'check the registry\'s auth setup' };
    }
    return { name, level: 'warn', message: `${url} reachable but asks for an authentication shoal cannot answer (WWW-Authenticate: ${challenge.slice(0, 80) || 'none'})`, fix: 'use basic or bearer-token auth on the seed' };
  } catch (error) {
    const code = describeNetworkError(error);
    return { name, level: 'fail', message: `${url}: its login step failed (${code})`, fix: networkFix(code, url) };
  }
}

// ---- swarm ----

export async function checkDockerConfig(path: string, listen: HostPort, upstreamUrls: readonly string[]): Promise<CheckResult> {
  const name = 'docker';
  const mirror = mirrorUrl(listen);
  const hub = wantsDockerHub(upstreamUrls);
  const pullAs = `pull as ${formatHostPort(listen).replace(/^(127\.0\.0\.1|0\.0\.0\.0|\[::\]|\[::1\]):/, 'localhost:')}/<image>`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      return hub
        ? { name, level: 'warn', message: `no ${path}: docker pulls docker.io images from Docker Hub directly, not through shoal`, fix: 'shoal setup docker --write, then restart dockerd (or pull as localhost:5000/<image>)' }
        : { name, level: 'ok', message: `no ${path}, none needed: ${pullAs}` };
    }
    return { name, level: 'warn', message: `cannot read ${path} (${code ?? String(error)})`, fix: 'run shoal doctor as root to check docker\'s registry settings' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { name, level: 'fail', message: `${path} is not valid JSON (${(error as Error).message}): dockerd will not start with it`, fix: `repair ${path} (shoal setup docker refuses to edit it as it is)` };
  }
  const record = json !== null && typeof json === 'object' && !Array.isArray(json) ? json as Record<string, unknown> : {};
  const mirrors = Array.isArray(record['registry-mirrors']) ? (record['registry-mirrors'] as unknown[]).filter((m): m is string => typeof m === 'string') : [];
  const ours = mirrors.find((m) => mentionsDaemon(m, listen));
  if (ours !== undefined) {
    return { name, level: 'ok', message: `${path} has ${ours} in registry-mirrors: docker.io pulls go through shoal (restart dockerd after changing it)` };
  }
  if (hub) {
    return {
      name, level: 'warn', message: `${path} has no ${mirror} in registry-mirrors${mirrors.length > 0 ? ` (it has ${mirrors.join(', ')})` : ''}: docker.io pulls bypass shoal`,
      fix: 'shoal setup docker --write, then restart dockerd',
    };
  }
  return { name, level: 'ok', message: `docker needs no mirror entry for this seed: ${pullAs}` };
}
