// `shoal setup docker|containerd`: the client configuration that sends pulls through the local
// daemon. Prints it; with --write applies it (a timestamped backup of every file it changes).
// Idempotent, and never writes over a file it cannot parse.
import { join } from 'node:path';
import { formatHostPort, isUnspecifiedIp, type HostPort } from '../config/parse.ts';
import type { ShoalConfig } from '../config/types.ts';
import { isDockerHubHost, normalizeRegistryHost } from '../upstream/docker-credentials.ts';
import type { TlsFiles } from '../upstream/tls.ts';
import { isLoopbackHost as isLoopbackRegistry } from '../upstream/upstreams.ts';
import { applyCommand, type SetupFlags } from './setup-command.ts';
import { SetupError, backupFile, readOptional, writeAtomically } from './setup-files.ts';
import { tlsLines, upstreamTlsFiles } from './setup-tls.ts';
import type { ClientIo } from './terminal.ts';
import { unbracketHost } from '../lib/host-port.ts';
import { isLoopback } from '../lib/loopback.ts';

export const DEFAULT_DOCKER_DAEMON_JSON = '/etc/docker/daemon.json';
export const DEFAULT_CONTAINERD_CERTS_DIR = '/etc/containerd/certs.d';
export const DEFAULT_CONTAINERD_CONFIG = '/etc/containerd/config.toml';
const DOCKER_HUB_SERVER = 'https://registry-1.docker.io';
const HOSTS_TOML_MARKER = '# Written by shoal setup containerd';

export interface SetupOptions extends SetupFlags {
  readonly write?: boolean;
  /** docker's daemon.json to edit. */
  readonly dockerConfig?: string;
  /** containerd's registry hosts directory (its config_path). */
  readonly containerdDir?: string;
  /** containerd's config.toml, read to check config_path. */
  readonly containerdConfig?: string;
  /** For backup names; tests pin it. */
  readonly now?: () => Date;
}

export { SetupError, timestamp } from './setup-files.ts';

export type SetupTarget = 'docker' | 'containerd';
export const SETUP_TARGETS: readonly SetupTarget[] = ['docker', 'containerd'];

/** The URL docker and containerd reach the daemon at: loopback for a loopback or wildcard listen address. */
export function mirrorUrl(listen: HostPort): string {
  if (isLoopback(listen.host) || isUnspecifiedIp(listen.host)) return `http://127.0.0.1:${listen.port}`;
  return `http://${formatHostPort(listen)}`;
}

/** Whether a registry-mirrors entry points at this daemon (any loopback spelling, or the listen address, on its port). */
export function mentionsDaemon(mirror: string, listen: HostPort): boolean {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(mirror) ? mirror : `http://${mirror}`);
  } catch {
    return false;
  }
  const host = unbracketHost(url.hostname).toLowerCase();
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  if (port !== listen.port) return false;
  return isLoopback(host) || host === listen.host.toLowerCase() || isUnspecifiedIp(listen.host);
}

/** Whether Docker Hub is among the upstreams: then `docker pull nginx` should go through shoal. */
export function wantsDockerHub(upstreamUrls: readonly string[]): boolean {
  return upstreamUrls.some((url) => {
    try {
      return isDockerHubHost(new URL(url).host);
    } catch {
      return false;
    }
  });
}

export async function setup(target: string, options: SetupOptions, config: ShoalConfig, io: ClientIo): Promise<number> {
  if (target === 'docker') return setupDocker(options, config, io);
  if (target === 'containerd') return setupContainerd(options, config, io);
  throw new SetupError(`unknown setup target "${target}": use shoal setup docker or shoal setup containerd`);
}

// ---- docker: registry-mirrors in daemon.json ----

/** The merged daemon.json text, or undefined when it already points at shoal. Throws SetupError for a file that is not a JSON object. */
export function mergeDaemonJson(text: string | undefined, path: string, listen: HostPort): { text: string; changed: boolean } {
  let json: Record<string, unknown> = {};
  if (text !== undefined && text.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new SetupError(`${path} is not valid JSON (${(error as Error).message}); refusing to edit it. Repair it by hand (dockerd does not start with it either), then run shoal setup docker again`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new SetupError(`${path} is JSON but not an object; refusing to edit it. dockerd expects {"key": value, ...}: repair it, then run shoal setup docker again`);
    }
    json = parsed as Record<string, unknown>;
  }
  const mirror = mirrorUrl(listen);
  const existing = json['registry-mirrors'];
  if (existing !== undefined && (!Array.isArray(existing) || existing.some((m) => typeof m !== 'string'))) {
    throw new SetupError(`${path}: "registry-mirrors" is not a list of URLs; refusing to edit it. Make it a list such as ["${mirror}"] by hand`);
  }
  const mirrors = (existing as string[] | undefined) ?? [];
  let changed = false;
  if (!mirrors.some((m) => mentionsDaemon(m, listen))) {
    // First: docker tries mirrors in order, then Docker Hub itself.
    json['registry-mirrors'] = [mirror, ...mirrors];
    changed = true;
  }
  // A daemon on a LAN address is plain HTTP that docker refuses unless told; loopback is always allowed.
  const host = new URL(mirror).host;
  if (!isLoopback(new URL(mirror).hostname)) {
    const insecure = json['insecure-registries'];
    if (insecure !== undefined && (!Array.isArray(insecure) || insecure.some((m) => typeof m !== 'string'))) {
      throw new SetupError(`${path}: "insecure-registries" is not a list; refusing to edit it`);
    }
    const list = (insecure as string[] | undefined) ?? [];
    if (!list.includes(host)) {
      json['insecure-registries'] = [...list, host];
      changed = true;
    }
  }
  const indent = /^\{\s*\n(\t| +)/.exec(text ?? '')?.[1] ?? '  ';
  return { text: changed ? `${JSON.stringify(json, null, indent)}\n` : text ?? '', changed };
}

async function setupDocker(options: SetupOptions, config: ShoalConfig, io: ClientIo): Promise<number> {
  const path = options.dockerConfig ?? DEFAULT_DOCKER_DAEMON_JSON;
  const original = await readOptional(path);
  const merged = mergeDaemonJson(original, path, config.listen);
  const mirror = mirrorUrl(config.listen);
  const restart = 'restart dockerd to apply it: sudo systemctl restart docker';
  const hubNote = wantsDockerHub(config.upstreams.map((u) => u.url))
    ? ''
    : `\nnote: registry-mirrors only covers docker.io images; images of your seed are pulled as ${new URL(mirror).host.replace(/^127\.0\.0\.1:/, 'localhost:')}/<name> with or without it`;
  if (!options.write) {
    io.stdout(merged.changed ? merged.text : original ?? '');
    io.stderr(merged.changed
      ? `shoal: above: ${path} with ${mirror} as a docker.io registry mirror (other keys kept). Apply it with: ${applyCommand('docker', options, config.listen)}, then restart dockerd: sudo systemctl restart docker${hubNote}\n`
      : `shoal: ${path} already has ${mirror} in registry-mirrors; nothing to change${hubNote}\n`);
    return 0;
  }
  if (!merged.changed) {
    io.stdout(`${path} already has ${mirror} in registry-mirrors; nothing written${hubNote}\n`);
    return 0;
  }
  const backup = original === undefined ? undefined : await backupFile(path, options.now?.() ?? new Date());
  await writeAtomically(path, merged.text);
  io.stdout(`wrote ${path}: registry-mirrors ${mirror}${backup ? ` (previous file saved as ${backup})` : ''}\n${restart}${hubNote}\n`);
  return 0;
}

// ---- containerd: hosts.toml per registry ----

interface HostsFile {
  readonly host: string;
  readonly server: string;
  /** What shoal trusts for that server (its settings and docker's certs.d), for containerd's direct fallback. */
  readonly tls?: TlsFiles;
}

/**
 * Every configured upstream and allowed registry, each once, with the URL containerd falls back
 * to, and the TLS files shoal uses for that upstream. Only those: shoal refuses `?ns=` for any
 * other registry, so a mirror entry for it is useless.
 */
export function containerdHosts(upstreamUrls: readonly string[], allowedRegistries: readonly string[] = [], tlsOf: (url: string) => TlsFiles | undefined = () => undefined): HostsFile[] {
  const files: HostsFile[] = [];
  const add = (host: string, server: string, tls?: TlsFiles): void => {
    if (!files.some((f) => f.host === host)) files.push({ host, server, ...(tls ? { tls } : {}) });
  };
  for (const url of upstreamUrls) {
    const parsed = new URL(url);
    if (isDockerHubHost(parsed.host)) add('docker.io', DOCKER_HUB_SERVER, tlsOf(url));
    else add(parsed.host.toLowerCase(), parsed.origin, tlsOf(url));
  }
  for (const allowed of allowedRegistries) {
    const host = normalizeRegistryHost(allowed);
    add(host, host === 'docker.io' ? DOCKER_HUB_SERVER : `${isLoopbackRegistry(host) ? 'http' : 'https'}://${host}`);
  }
  return files;
}

/** The hosts.toml shoal writes for one registry. */
export function hostsToml(file: HostsFile, mirror: string): string {
  return [
    `${HOSTS_TOML_MARKER}: pull ${file.host} images through the local shoal daemon, then ${file.server} directly.`,
    `# containerd adds ?ns=${file.host} to requests to the mirror; shoal reads it to pick the registry.`,
    `server = "${file.server}"`,
    ...tlsLines(file.tls),
    '',
    mirrorBlock(mirror),
  ].join('\n');
}

function mirrorBlock(mirror: string): string {
  return `[host."${mirror}"]\n  capabilities = ["pull", "resolve"]\n`;
}

/** What the file should hold, given what it holds now; `changed` false when it already sends pulls to shoal. */
export function mergeHostsToml(existing: string | undefined, file: HostsFile, mirror: string): { text: string; changed: boolean } {
  const ours = hostsToml(file, mirror);
  if (existing === undefined || existing.trim() === '') return { text: ours, changed: true };
  if (existing === ours) return { text: existing, changed: false };
  if (existing.startsWith(HOSTS_TOML_MARKER)) return { text: ours, changed: true };
  const header = new RegExp(`^\\s*\\[\\s*host\\s*\\.\\s*"${escapeRegExp(mirror)}/?"\\s*\\]`, 'm');
  if (header.test(existing)) return { text: existing, changed: false };
  // Someone else's file: keep all of it and put shoal's host first (containerd tries hosts in order).
  // Top-level keys (server, ca, ...) must stay above the first table, so the block goes just before it.
  const lines = existing.split('\n');
  const firstTable = lines.findIndex((line) => /^\s*\[/.test(line));
  const block = `# Added by shoal setup containerd: pull through the local shoal daemon first.\n${mirrorBlock(mirror)}`;
  if (firstTable < 0) return { text: `${existing.replace(/\n*$/, '\n')}\n${block}`, changed: true };
  return { text: [...lines.slice(0, firstTable), ...block.split('\n'), ...lines.slice(firstTable)].join('\n'), changed: true };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function setupContainerd(options: SetupOptions, config: ShoalConfig, io: ClientIo): Promise<number> {
  const dir = options.containerdDir ?? DEFAULT_CONTAINERD_CERTS_DIR;
  const mirror = mirrorUrl(config.listen);
  const plans: Array<{ path: string; text: string; changed: boolean; existed: boolean }> = [];
  const hosts = containerdHosts(config.upstreams.map((u) => u.url), config.allowedRegistries, upstreamTlsFiles(config));
  if (hosts.length === 0) {
    io.stderr(`shoal: no upstream and no allowed registry is configured, so containerd has nothing to pull through shoal (pull as ${new URL(mirror).host}/<name>); give --upstream or --allowed-registries\n`);
    return 0;
  }
  for (const file of hosts) {
    const path = join(dir, file.host, 'hosts.toml');
    const existing = await readOptional(path);
    plans.push({ path, ...mergeHostsToml(existing, file, mirror), existed: existing !== undefined });
  }
  const configNote = await containerdConfigNote(options.containerdConfig ?? DEFAULT_CONTAINERD_CONFIG, dir);
  const restart = 'restart containerd after changing config.toml: sudo systemctl restart containerd (hosts.toml files are read on each pull)';
  if (!options.write) {
    for (const plan of plans) io.stdout(`# ==> ${plan.path}${plan.changed ? '' : ' (already set up)'} <==\n${plan.text.replace(/\n*$/, '\n')}\n`);
    const pending = plans.filter((p) => p.changed).length;
    io.stderr(`shoal: ${pending === 0 ? 'every file above already sends pulls to shoal; nothing to change' : `apply with: ${applyCommand('containerd', options, config.listen)}`}\n${configNote ? `${configNote}\n` : ''}`);
    return 0;
  }
  const stamp = options.now?.() ?? new Date();
  for (const plan of plans) {
    if (!plan.changed) {
      io.stdout(`${plan.path}: already sends pulls to ${mirror}; unchanged\n`);
      continue;
    }
    const backup = plan.existed ? await backupFile(plan.path, stamp) : undefined;
    await writeAtomically(plan.path, plan.text);
    io.stdout(`wrote ${plan.path}${backup ? ` (previous file saved as ${backup})` : ''}\n`);
  }
  io.stdout(`${configNote ? `${configNote}\n` : ''}${configNote ? `${restart}\n` : ''}`);
  return 0;
}

/** Tells the user to set config_path when containerd's config does not point at `dir`; undefined when it does. */
async function containerdConfigNote(configPath: string, dir: string): Promise<string | undefined> {
  let text: string | undefined;
  try {
    text = await readOptional(configPath);
  } catch {
    text = undefined;
  }
  const found = text === undefined ? undefined : /^\s*config_path\s*=\s*["']([^"']*)["']/m.exec(text)?.[1];
  if (found !== undefined) {
    const paths = found.split(':');
    if (paths.some((p) => p.replace(/\/+$/, '') === dir.replace(/\/+$/, ''))) return undefined;
    return `note: ${configPath} sets config_path = "${found}", not ${dir}: run again with --containerd-dir ${paths[0]} or change config_path`;
  }
  return [
    `note: ${text === undefined ? `${configPath} does not exist or cannot be read` : `${configPath} does not set config_path`}; containerd reads these files only when it does. Add:`,
    '  containerd 1.x:  [plugins."io.containerd.grpc.v1.cri".registry]',
    `                     config_path = "${dir}"`,
    '  containerd 2.x:  [plugins."io.containerd.cri.v1.images".registry]',
    `                     config_path = "${dir}"`,
    `  (ctr: pass --hosts-dir ${dir}; nerdctl reads ${DEFAULT_CONTAINERD_CERTS_DIR} by default)`,
  ].join('\n');
}
