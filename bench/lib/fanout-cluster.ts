// The moving parts of the fan-out benchmark, each inside a network namespace of a test LAN
// (test/helpers/netns.ts): the seed (Debian's docker-registry serving a data dir filled on
// loopback beforehand), one `shoal serve` per host, skopeo pulls and pushes, curl, and the
// fanout-probe.ts poller. The root namespace cannot reach the LAN, so everything that talks to a
// host runs in a namespace; what the root namespace reads directly is /proc (pids are shared).
//
// This is deliberately separate from test/helpers/cluster.ts: the benchmark needs the daemons'
// pids (RSS and CPU from /proc), its own log level (info: nothing useful is logged at debug and it
// costs CPU on a 2-core machine), request arrival times in the seed's access log, and a seed that
// can be used with and without daemons on the same hosts.
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../src/daemon/runtime-flags.ts';
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestHost } from '../../test/helpers/netns.ts';
import { REGISTRY_BINARY, writeRegistryConfig, parseAccessLine } from '../../test/helpers/seed-registry.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const SHOAL_BIN = join(ROOT, 'bin', 'shoal.js');
export const FANOUT_PROBE = join(import.meta.dirname, 'fanout-probe.ts');
export const REGISTRY_PORT = 5000;
export const P2P_PORT = 5001;
export const PEER_PORT = 5002;

/** Apache combined format as distribution 2.8.2 writes it (stdout): remote address first. */
const MARKER_PATH = '/v2/?shoal-bench-marker=';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// curl inside a namespace

export interface CurlResult {
  readonly status: number;
  readonly body: string;
}

export async function curlIn(host: TestHost, url: string, args: readonly string[] = [], timeoutMs = 10_000): Promise<CurlResult> {
  const marker = '\n__status__:';
  const result = await host.exec('curl', ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args, '-w', `${marker}%{http_code}`, url], { timeoutMs: timeoutMs + 2_000 });
  const at = result.stdout.lastIndexOf(marker);
  if (at < 0) return { status: 0, body: result.stderr };
  return { status: Number(result.stdout.slice(at + marker.length)), body: result.stdout.slice(0, at) };
}

export interface TimedRequest {
  readonly status: number;
  /** curl's time_connect, ms */
  readonly connectMs: number;
  /** curl's time_starttransfer (first byte of the response), ms from the start */
  readonly firstByteMs: number;
}

/** One `curl -r <range>` inside `host`, body thrown away; curl's own timings (not process start-up). */
export async function timedRangeGet(host: TestHost, url: string, range: string, timeoutMs = 10_000): Promise<TimedRequest> {
  const result = await host.exec(
    'curl',
    ['-sS', '-o', '/dev/null', '--max-time', String(Math.ceil(timeoutMs / 1000)), '-r', range, '-w', '%{http_code} %{time_connect} %{time_starttransfer}', url],
    { timeoutMs: timeoutMs + 2_000 },
  );
  const [status, connect, first] = result.stdout.trim().split(' ');
  return { status: Number(status ?? 0), connectMs: Number(connect ?? NaN) * 1000, firstByteMs: Number(first ?? NaN) * 1000 };
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface Exited {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Resolves when the child exits, killing it (SIGKILL) after `timeoutMs`. */
export function exitOf(child: ChildProcess, timeoutMs?: number): Promise<Exited> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done({ code: child.exitCode, signal: child.signalCode });
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal });
    });
  });
}

export interface SkopeoRun {
  readonly host: string;
  readonly pid: number;
  /** Epoch ms at spawn and at exit. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly ok: boolean;
  readonly stderr: string;
}

/** Starts `skopeo <args>` in the host; the promise resolves at its exit (never rejects). */
export function spawnSkopeo(host: TestHost, args: readonly string[], timeoutMs: number, onPid?: (pid: number) => void): Promise<SkopeoRun> {
  const startedAt = Date.now();
  const child = host.spawn('skopeo', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-8_000)));
  if (child.pid !== undefined) onPid?.(child.pid);
  return exitOf(child, timeoutMs).then(({ code, signal }) => ({
    host: host.name,
    pid: child.pid ?? 0,
    startedAt,
    endedAt: Date.now(),
    ok: code === 0,
    stderr: code === 0 ? stderr : `${stderr}\n(skopeo exited ${code ?? signal}${signal === 'SIGKILL' ? `; killed after ${timeoutMs} ms` : ''})`,
  }));
}

export function pullArgs(source: string, outDir: string): string[] {
  return ['--insecure-policy', 'copy', '--src-tls-verify=false', source, `oci:${outDir}:x`];
}

export function pushArgs(layoutDir: string, target: string): string[] {
  return ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${layoutDir}:x`, target];
}

// ---------------------------------------------------------------------------------------------
// The seed

export interface SeedRequest {
  readonly remote: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly bytes: number;
  readonly digest: string | undefined;
  /** Epoch ms when its access-log line was read (the registry writes it after the response). */
  readonly at: number;
}

export interface BenchSeed {
  readonly host: TestHost;
  readonly address: string;
  readonly url: string;
  readonly pid: number;
  /** Makes sure every request answered so far is in the log, then returns how many there are (a mark). */
  mark(): Promise<number>;
  /** Requests logged between two marks (markers excluded). */
  between(from: number, to: number): SeedRequest[];
  stop(): Promise<void>;
}

/** Successful blob GETs (200/206): what counts as seed egress. */
export function blobGets(requests: readonly SeedRequest[]): SeedRequest[] {
  return requests.filter((r) => r.method === 'GET' && (r.status === 200 || r.status === 206) && r.digest !== undefined);
}

export async function startSeed(host: TestHost, dataDir: string, workDir: string): Promise<BenchSeed> {
  const url = `http://${host.address}:${REGISTRY_PORT}`;
  const configPath = join(workDir, 'seed-config.yml');
  await writeRegistryConfig(configPath, { dataDir, addr: `${host.address}:${REGISTRY_PORT}`, logLevel: 'warn' });
  const logged: SeedRequest[] = [];
  let stderr = '';
  const child = host.spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = exitOf(child);
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const request = parseAccessLine(line);
    if (request) logged.push({ ...request, at: Date.now() });
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-10_000)));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`seed docker-registry exited while starting:\n${stderr}`);
    if ((await curlIn(host, `${url}/v2/`, [], 2_000)).status === 200) break;
    if (Date.now() > deadline) throw new Error(`seed docker-registry does not answer ${url}/v2/:\n${stderr}`);
    await sleep(100);
  }
  let markers = 0;
  return {
    host,
    address: host.address,
    url,
    pid: child.pid ?? 0,
    mark: async () => {
      const marker = `${MARKER_PATH}${++markers}`;
      await curlIn(host, `${url}${marker}`, [], 5_000);
      const deadline = Date.now() + 5_000;
      while (!logged.some((r) => r.path === marker)) {
        if (Date.now() > deadline) throw new Error('the seed access log did not show the marker request');
        await sleep(10);
      }
      return logged.length;
    },
    between: (from, to) => logged.slice(from, to).filter((r) => !r.path.startsWith(MARKER_PATH)),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A shoal daemon

export interface LogLine {
  readonly [key: string]: unknown;
  readonly msg?: string;
  readonly time?: number;
  readonly level?: number;
}

export interface Metrics {
  readonly seedBytes: number;
  readonly peerReceivedBytes: number;
  readonly peerServedBytes: number;
  readonly peers: number;
  readonly verificationFailures: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly externalBytes: number;
}

export function parseMetrics(text: string): Metrics {
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})?\s+(\S+)/.exec(line);
    if (m) sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + Number(m[2]));
  }
  const v = (name: string): number => sums.get(name) ?? 0;
  return {
    seedBytes: v('shoal_seed_bytes_total'),
    peerReceivedBytes: v('shoal_peer_received_bytes_total'),
    peerServedBytes: v('shoal_peer_served_bytes_total'),
    peers: v('shoal_peers'),
    verificationFailures: v('shoal_verification_failures_total'),
    rssBytes: v('shoal_process_resident_memory_bytes'),
    heapUsedBytes: v('shoal_nodejs_heap_size_used_bytes'),
    heapTotalBytes: v('shoal_nodejs_heap_size_total_bytes'),
    externalBytes: v('shoal_nodejs_external_memory_bytes'),
  };
}

export interface Daemon {
  readonly name: string;
  readonly host: TestHost;
  readonly address: string;
  readonly pid: number;
  readonly peerUrl: string;
  readonly logs: readonly LogLine[];
  logTail(n?: number): string;
  metrics(): Promise<Metrics>;
  waitForPeers(count: number, timeoutMs: number): Promise<void>;
  readonly running: boolean;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  readonly dataDir: string;
  readonly upstream: string;
  readonly logLevel: string;
}

export async function startDaemon(host: TestHost, options: DaemonOptions): Promise<Daemon> {
  await mkdir(options.dataDir, { recursive: true });
  const args = [
    'serve',
    '--listen', `127.0.0.1:${REGISTRY_PORT}`,
    '--data-dir', options.dataDir,
    '--bind-address', host.address,
    '--p2p-port', String(P2P_PORT),
    '--peer-port', String(PEER_PORT),
    '--upstream', options.upstream,
    '--log-level', options.logLevel,
  ];
  // The V8 flags production uses (bin/shoal.js's shebang, npm start): measured here as deployed.
  const child = host.spawn(process.execPath, [...DAEMON_NODE_FLAGS, SHOAL_BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...DAEMON_ENV } });
  const exited = exitOf(child);
  const logs: LogLine[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      logs.push(JSON.parse(text) as LogLine);
    } catch {
      logs.push({ msg: text });
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-10_000)));
  const peerUrl = `http://${host.address}:${PEER_PORT}`;
  const logTail = (n = 30): string =>
    `--- ${host.name} shoal log (last ${n})${stderr ? `, stderr: ${stderr.slice(-2_000)}` : ''} ---\n` +
    logs
      .slice(-n)
      .map((l) => JSON.stringify(l).slice(0, 400))
      .join('\n');
  const metrics = async (): Promise<Metrics> => {
    const { status, body } = await curlIn(host, `${peerUrl}/metrics`);
    if (status !== 200) throw new Error(`${host.name}: GET ${peerUrl}/metrics answered ${status}: ${body}`);
    return parseMetrics(body);
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`shoal on ${host.name} exited while starting\n${logTail()}`);
    if (logs.some((l) => String(l.msg).startsWith('shoal is serving')) && (await curlIn(host, `http://127.0.0.1:${REGISTRY_PORT}/v2/`, [], 2_000)).status === 200) break;
    if (Date.now() > deadline) throw new Error(`shoal on ${host.name} did not start within 30 s\n${logTail()}`);
    await sleep(100);
  }

  return {
    name: host.name,
    host,
    address: host.address,
    pid: child.pid ?? 0,
    peerUrl,
    logs,
    logTail,
    metrics,
    waitForPeers: async (count, timeoutMs) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const peers = (await metrics()).peers;
        if (peers >= count) return;
        if (Date.now() > until) throw new Error(`${host.name}: shoal_peers is ${peers}, not ${count}, after ${timeoutMs} ms\n${logTail()}`);
        await sleep(200);
      }
    },
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
