// Start a registry server as a child process and wait until `GET /v2/` answers 200: shoal (run
// from this checkout) or Debian's docker-registry (distribution 2.8.2) as the baseline.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { onCleanup, trackChild } from './cleanup.ts';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../src/daemon/runtime-flags.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const REGISTRY2_BINARY = process.env.SHOAL_BENCH_REGISTRY_BIN ?? process.env.SHOAL_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';

/** Node 22 from the project (the system one may be older), else whatever runs the benchmark. */
export function nodeBinary(): string {
  const local = join(REPO_ROOT, 'node_modules', '.bin', 'node');
  return existsSync(local) ? local : process.execPath;
}

/**
 * Makes the daemon's JavaScript build (dist/, scripts/build.mjs) unless it is up to date: what `npm
 * start` and the image run, and what bin/shoal.js runs when its fingerprint matches the sources, so
 * a benchmark measures the daemon as deployed rather than type-stripped sources (more RSS, a slower
 * start). `readable`: not minified, for a CPU profile that names the code (bundle-sources.ts).
 */
export function buildDaemon(readable = false): void {
  const env = readable ? { ...process.env, SHOAL_BUILD_READABLE: '1' } : process.env;
  execFileSync(nodeBinary(), [join(REPO_ROOT, 'scripts', 'build.mjs')], { stdio: ['ignore', 'ignore', 'inherit'], env });
}

export interface RunningServer {
  readonly label: string;
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** The last 20 kB the server wrote to stdout and stderr. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnServerOptions {
  readonly label: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly port: number;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly startTimeoutMs?: number;
}

// One free-port finder for tests and benchmarks.
export { freePort } from '../../test/helpers/seed-registry.ts';
import { freePort } from '../../test/helpers/seed-registry.ts';

/** Spawns a server listening on 127.0.0.1:`port` and resolves once `GET /v2/` answers 200. */
export async function spawnServer(options: SpawnServerOptions): Promise<RunningServer> {
  const { label, port } = options;
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  let output = '';
  const collect = (chunk: string): void => {
    output = (output + chunk).slice(-20_000);
  };
  child.stdout!.setEncoding('utf8').on('data', collect);
  child.stderr!.setEncoding('utf8').on('data', collect);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

  let unregister = (): void => {};
  const stop = async (graceMs = 10_000): Promise<void> => {
    unregister();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
  };
  unregister = onCleanup(() => stop(2000));

  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  for (;;) {
    if (gone) throw new Error(`${label} exited (${child.exitCode ?? child.signalCode}) while starting:\n${output}`);
    if (await answers200(`${url}/v2/`)) break;
    if (Date.now() > deadline) {
      await stop(1000);
      throw new Error(`${label} did not answer GET ${url}/v2/ with 200 in time:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { label, url, port, pid: child.pid!, child, output: () => output, stop };
}

async function answers200(url: string): Promise<boolean> {
  try {
    const response = await request(url, { headersTimeout: 2000, bodyTimeout: 2000 });
    await response.body.dump();
    return response.statusCode === 200;
  } catch {
    return false;
  }
}

export interface ShoalServerOptions {
  readonly dataDir: string;
  readonly upstream?: string;
  readonly port?: number;
  readonly logLevel?: string;
  /** Node flags for the shoal child, e.g. `['--cpu-prof', '--cpu-prof-dir', dir]`. */
  readonly nodeArgs?: readonly string[];
  readonly label?: string;
  /** Script run instead of bin/shoal.js (takes the same arguments), e.g. an experiment that patches shoal. */
  readonly entry?: string;
  /**
   * Without the V8 flags and malloc settings the daemon is deployed with (runtime-flags.ts): for an
   * A/B of those settings only. By default a benchmark measures the daemon as `npm start`, the
   * image and the systemd unit run it.
   */
  readonly plainRuntime?: boolean;
}

export async function startShoal(options: ShoalServerOptions): Promise<RunningServer> {
  const port = options.port ?? (await freePort());
  const args = [
    ...(options.plainRuntime ? [] : DAEMON_NODE_FLAGS),
    ...(options.nodeArgs ?? []),
    options.entry ?? join(REPO_ROOT, 'bin', 'shoal.js'),
    'serve',
    '--listen', `127.0.0.1:${port}`,
    '--data-dir', options.dataDir,
    '--log-level', options.logLevel ?? 'warn',
    // One node against registry:2: no swarm ports, no mDNS from the root namespace.
    '--no-swarm',
    ...(options.upstream ? ['--upstream', options.upstream] : []),
  ];
  // Keep settings from the environment or a config file out of the measurement.
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('SHOAL_')) env[key] = value;
  if (!options.plainRuntime) Object.assign(env, DAEMON_ENV);
  return spawnServer({ label: options.label ?? 'shoal', command: nodeBinary(), args, port, env });
}

export interface Registry2Options {
  readonly rootDir: string;
  /** Where config.yml is written. */
  readonly configDir: string;
  readonly port?: number;
  readonly label?: string;
  /** Run as a pull-through cache of this registry (distribution's proxy mode). */
  readonly proxyRemoteUrl?: string;
}

/** distribution's registry with logging quiet (no access log) so it is measured at its best. */
export async function startRegistry2(options: Registry2Options): Promise<RunningServer> {
  const port = options.port ?? (await freePort());
  await mkdir(options.rootDir, { recursive: true });
  await mkdir(options.configDir, { recursive: true });
  const configPath = join(options.configDir, 'config.yml');
  // YAML is a superset of JSON.
  await writeFile(configPath, JSON.stringify({
    version: 0.1,
    log: { level: 'error', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: options.rootDir }, maintenance: { uploadpurging: { enabled: false } } },
    http: { addr: `127.0.0.1:${port}`, secret: 'shoal-bench-secret' },
    ...(options.proxyRemoteUrl ? { proxy: { remoteurl: options.proxyRemoteUrl } } : {}),
  }));
  return spawnServer({ label: options.label ?? 'registry:2', command: REGISTRY2_BINARY, args: ['serve', configPath], port });
}
