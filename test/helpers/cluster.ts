// A shoal cluster on a test LAN: every host a network namespace (netns.ts) running one real
// `shoal serve` daemon, plus an optional seed host running Debian's docker-registry. Everything a
// test asks a host (its registry API, its metrics, skopeo pulls and pushes) runs inside that
// host's namespace: the root namespace cannot reach the LAN, and the LAN cannot reach out.
//
//   const cluster = await startCluster({ hosts: 4, seed: { images: [{ repo: 'app', tag: '1', image }] } });
//   await cluster.node('h1').pull('app:1');
//   (await cluster.node('h1').metrics()).seedBytes;
//   await cluster.seed!.blobBytesServed({ from: cluster.node('h2') });
//   await cluster.dispose();
//
// Each daemon listens on 127.0.0.1:5000 (registry API), <host address>:5001 (libp2p) and :5002
// (peer data plane with /metrics), all inside its own namespace. The seed listens on
// <seed address>:5000; its access log (Apache combined format, on stdout) says which host got
// how many blob bytes.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createTestNetwork, type TestHost, type TestNetwork } from './netns.ts';
import { pushImage, writeOciLayout, type TestImage } from './images.ts';
import { REGISTRY_BINARY, startSeedRegistry, writeRegistryConfig, parseAccessLine } from './seed-registry.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
const SHOAL_BIN = join(ROOT, 'bin', 'shoal.js');
export const REGISTRY_PORT = 5000;
export const P2P_PORT = 5001;
export const PEER_PORT = 5002;
/** Each node's metrics-listen port, on its loopback: the peer port's /metrics is TLS-only with a cluster key. */
export const METRICS_PORT = 5003;
const START_TIMEOUT_MS = 30_000;
const DEFAULT_MESH_TIMEOUT_MS = 20_000;
const DEFAULT_SKOPEO_TIMEOUT_MS = 180_000;
/** Apache combined format as distribution 2.8.2 writes it: remote address first. */
const MARKER_PATH = '/v2/?shoal-log-marker=';

// ---------------------------------------------------------------------------------------------
// Types

export interface SeedImage {
  readonly repo: string;
  readonly tag: string;
  readonly image: TestImage;
}

export interface ClusterOptions {
  /** How many shoal hosts (h1, h2, ...) or their names. */
  readonly hosts: number | readonly string[];
  /** A seed registry host (named `seed`) filled with these images; every shoal gets `--upstream` to it unless `upstream: false`. */
  readonly seed?: { readonly images: readonly SeedImage[] };
  /** Pass `--upstream http://<seed>:5000` to the daemons (default: true when there is a seed). */
  readonly upstream?: boolean;
  /** Extra `shoal serve` arguments for every host. */
  readonly shoalArgs?: readonly string[];
  /** Extra `shoal serve` arguments per host name (after `shoalArgs`). */
  readonly nodeArgs?: Readonly<Record<string, readonly string[]>>;
  /** Shapes every shoal host's link (the seed's too) to this many Mbit/s each way. */
  readonly rateMbit?: number;
  /**
   * Peers each node must see (the `shoal_peers` metric) before startCluster returns: a number for
   * all, or per host name. Default: every other host when mDNS is on, none with `--no-mdns`.
   */
  readonly expectedPeers?: number | Readonly<Record<string, number>>;
  readonly meshTimeoutMs?: number;
}

export interface LogLine {
  readonly [key: string]: unknown;
  readonly msg?: string;
  readonly time?: number;
  readonly level?: number;
}

export interface PeerBytes {
  readonly peer: string;
  readonly direction: string;
  readonly bytes: number;
}

export interface NodeMetrics {
  /** shoal_seed_bytes_total */
  readonly seedBytes: number;
  /** shoal_peer_received_bytes_total */
  readonly peerReceivedBytes: number;
  /** shoal_peer_served_bytes_total */
  readonly peerServedBytes: number;
  /** shoal_peers */
  readonly peers: number;
  /** shoal_verification_failures_total */
  readonly verificationFailures: number;
  /** shoal_peer_bytes_total{peer,direction} */
  readonly perPeer: readonly PeerBytes[];
  /** The value of any sample, 0 when absent; labels must all match. */
  value(name: string, labels?: Readonly<Record<string, string>>): number;
  readonly text: string;
}

export interface PullResult {
  /** The OCI layout skopeo wrote. */
  readonly dir: string;
  readonly ms: number;
  readonly stderr: string;
}

export interface ClusterNode {
  readonly name: string;
  readonly host: TestHost;
  readonly address: string;
  readonly dataDir: string;
  /** The libp2p peer id (persisted in the data dir, so a restart keeps it). */
  readonly peerId: string;
  /** `http://<address>:5002`: the data plane other peers fetch from. */
  readonly peerUrl: string;
  /** Whether the daemon process runs. */
  readonly running: boolean;
  /** The `shoal serve` arguments it runs with. */
  readonly args: readonly string[];
  /** Every JSON log line since the helper started it (all runs). */
  logs(): readonly LogLine[];
  /** Log lines of the current (or last) run only. */
  runLogs(): readonly LogLine[];
  /** The last `lines` log lines, one per line, for failure messages. */
  logTail(lines?: number): string;
  /** Epoch ms of this run's 'swarm started' line. */
  readonly swarmStartedAt: number;
  /** Peer ids this run has seen join and not leave (from the logs). */
  livePeers(): Set<string>;
  /** Resolves with the first log line of this run (or from now on) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  /** Polls `shoal_peers` until it equals `count`. */
  waitForPeers(count: number, timeoutMs?: number): Promise<void>;
  metrics(): Promise<NodeMetrics>;
  /** `skopeo copy docker://127.0.0.1:5000/<ref> oci:<temp dir>:x` inside the host; throws with skopeo's stderr and the shoal log tail. */
  pull(ref: string, options?: { timeoutMs?: number; extraArgs?: readonly string[] }): Promise<PullResult>;
  /** Pushes an OCI-format image (from an OCI layout) to this host's shoal as `<ref>`. */
  push(ref: string, image: TestImage, options?: { timeoutMs?: number }): Promise<void>;
  /** Runs a command inside the host. */
  exec: TestHost['exec'];
  /** `curl` inside the host; returns the HTTP status and the body. */
  curl(url: string, headers?: Readonly<Record<string, string>>): Promise<{ status: number; body: string }>;
  /** Where a committed blob lives on this host's disk. */
  blobPath(digest: string): string;
  /** sha256 of the stored blob file, `sha256:<hex>`, or undefined when absent. */
  storedDigest(digest: string): Promise<string | undefined>;
  /** SIGTERM and wait for the exit; resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no draining, no goodbye. */
  crash(): Promise<void>;
  /** Starts the daemon again with the same arguments and data dir; waits until /v2/ answers. */
  restart(): Promise<void>;
}

export interface LoggedSeedRequest {
  readonly remote: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly bytes: number;
  /** For blob requests: the digest. */
  readonly digest: string | undefined;
}

export interface SeedFilter {
  /** Only requests from this address (or node). */
  readonly from?: string | ClusterNode;
  /** Only blob requests for these digests. */
  readonly digests?: readonly string[];
}

export interface ClusterSeed {
  readonly host: TestHost;
  readonly address: string;
  /** `http://<address>:5000` */
  readonly url: string;
  readonly dataDir: string;
  readonly running: boolean;
  /** Every request logged so far (across restarts), after making sure the log has caught up (when running). */
  requests(): Promise<LoggedSeedRequest[]>;
  /** Successful (200/206) blob GETs. */
  blobGets(filter?: SeedFilter): Promise<LoggedSeedRequest[]>;
  /** Body bytes of successful blob GETs. */
  blobBytesServed(filter?: SeedFilter): Promise<number>;
  /** Forgets the requests logged so far. */
  clearLog(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface Cluster {
  readonly net: TestNetwork;
  readonly nodes: readonly ClusterNode[];
  readonly seed: ClusterSeed | undefined;
  readonly workDir: string;
  node(name: string): ClusterNode;
  /**
   * Adds a host to the LAN and starts a shoal on it (same arguments as the others, plus `args`);
   * waits until it answers /v2/ and, unless `expectedPeers` is 0, until it sees that many peers
   * (default: every other running node when mDNS is on).
   */
  addNode(name: string, options?: { args?: readonly string[]; expectedPeers?: number }): Promise<ClusterNode>;
  /** Log tails of every node, for failure messages. */
  logTails(lines?: number): string;
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Small parts

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Parses prom-client text exposition into samples. */
export function parseMetrics(text: string): NodeMetrics {
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  const value = (name: string, labels: Readonly<Record<string, string>> = {}): number =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
  return {
    seedBytes: value('shoal_seed_bytes_total'),
    peerReceivedBytes: value('shoal_peer_received_bytes_total'),
    peerServedBytes: value('shoal_peer_served_bytes_total'),
    peers: value('shoal_peers'),
    verificationFailures: value('shoal_verification_failures_total'),
    perPeer: samples.filter((s) => s.name === 'shoal_peer_bytes_total').map((s) => ({ peer: s.labels.peer ?? '', direction: s.labels.direction ?? '', bytes: s.value })),
    value,
    text,
  };
}

function formatLine(line: LogLine): string {
  const { time, level, msg, pid: _pid, hostname: _hostname, name: _name, ...rest } = line as Record<string, unknown>;
  const when = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '?';
  const fields = JSON.stringify(rest);
  return `${when} ${String(level ?? '')} ${String(msg ?? '')} ${fields.length > 600 ? `${fields.slice(0, 600)}…` : fields}`;
}

async function fileDigest(path: string): Promise<string | undefined> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return `sha256:${hash.digest('hex')}`;
}

export function blobDataPath(dataDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return join(dataDir, 'docker', 'registry', 'v2', 'blobs', algorithm, hex.slice(0, 2), hex, 'data');
}

/** `shoal keygen --output file` (in the root namespace: it needs no network). */
export function keygen(file: string): void {
  const result = spawnSync(process.execPath, [SHOAL_BIN, 'keygen', '--output', file], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`shoal keygen --output ${file} exited ${result.status}: ${result.stderr}`);
}

async function curlIn(host: TestHost, url: string, headers: Readonly<Record<string, string>> = {}, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  const marker = '\n__shoal_status__:';
  const args = ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), '-w', `${marker}%{http_code}`];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const result = await host.exec('curl', args, { timeoutMs: timeoutMs + 2_000 });
  const at = result.stdout.lastIndexOf(marker);
  if (at < 0) return { status: 0, body: result.stderr };
  return { status: Number(result.stdout.slice(at + marker.length)), body: result.stdout.slice(0, at) };
}

// ---------------------------------------------------------------------------------------------
// The seed

async function startClusterSeed(net: TestNetwork, workDir: string, images: readonly SeedImage[], rateMbit: number | undefined): Promise<ClusterSeed> {
  const dataDir = join(workDir, 'seed-data');
  await mkdir(dataDir, { recursive: true });
  // Filled on loopback first (the root namespace cannot reach the LAN), then served on the LAN.
  const loopback = await startSeedRegistry({ dataDir });
  try {
    for (const { repo, tag, image } of images) await pushImage(loopback.url, repo, tag, image);
  } finally {
    await loopback.stop();
  }
  const host = await net.addHost('seed', rateMbit ? { rateMbit } : {});
  const address = host.address;
  const url = `http://${address}:${REGISTRY_PORT}`;
  const configPath = join(workDir, 'seed-config.yml');
  await writeRegistryConfig(configPath, { dataDir, addr: `${address}:${REGISTRY_PORT}`, logLevel: 'info' });
  const logged: LoggedSeedRequest[] = [];
  let child: ChildProcess | undefined;
  let stderr = '';
  let markers = 0;

  const start = async (): Promise<void> => {
    if (child) return;
    stderr = '';
    const proc = host.spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.once('exit', () => {
      if (child === proc) child = undefined;
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const request = parseAccessLine(line);
      if (request) logged.push({ ...request });
    });
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-10_000)));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`seed docker-registry exited (${proc.exitCode ?? proc.signalCode}) while starting:\n${stderr}`);
      const { status } = await curlIn(host, `${url}/v2/`, {}, 2_000);
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`seed docker-registry did not answer ${url}/v2/ within ${START_TIMEOUT_MS} ms:\n${stderr}`);
      await sleep(100);
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
    child = undefined;
  };

  /** A marker request whose log line shows that every earlier request is logged. */
  const flush = async (): Promise<void> => {
    if (!child) return; // stopped: its stdout has been read to the end
    const marker = `${MARKER_PATH}${++markers}`;
    await curlIn(host, `${url}${marker}`, {}, 5_000);
    const deadline = Date.now() + 5_000;
    while (!logged.some((r) => r.path === marker)) {
      if (Date.now() > deadline) throw new Error('the seed access log did not show the marker request');
      await sleep(10);
    }
  };

  const requests = async (): Promise<LoggedSeedRequest[]> => {
    await flush();
    return logged.filter((r) => !r.path.startsWith(MARKER_PATH));
  };
  const blobGets = async (filter: SeedFilter = {}): Promise<LoggedSeedRequest[]> => {
    const from = typeof filter.from === 'object' ? filter.from.address : filter.from;
    return (await requests()).filter(
      (r) =>
        r.method === 'GET' &&
        (r.status === 200 || r.status === 206) &&
        r.digest !== undefined &&
        (from === undefined || r.remote === from) &&
        (filter.digests === undefined || filter.digests.includes(r.digest)),
    );
  };

  await start();
  return {
    host,
    address,
    url,
    dataDir,
    get running() {
      return child !== undefined;
    },
    requests,
    blobGets,
    blobBytesServed: async (filter) => (await blobGets(filter)).reduce((sum, r) => sum + r.bytes, 0),
    clearLog: () => void (logged.length = 0),
    stop,
    start,
  };
}

// ---------------------------------------------------------------------------------------------
// A node

async function startNode(host: TestHost, workDir: string, args: readonly string[]): Promise<ClusterNode> {
  const dataDir = join(workDir, 'nodes', host.name);
  await mkdir(dataDir, { recursive: true });
  const fullArgs = [
    'serve',
    '--listen', `127.0.0.1:${REGISTRY_PORT}`,
    '--data-dir', dataDir,
    '--bind-address', host.address,
    '--p2p-port', String(P2P_PORT),
    '--peer-port', String(PEER_PORT),
    '--metrics-listen', `127.0.0.1:${METRICS_PORT}`,
    '--log-level', 'debug',
    ...args,
  ];
  const lines: LogLine[] = [];
  let runStart = 0;
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  let stderr = '';
  let peerId = '';
  let swarmStartedAt = 0;
  const listeners = new Set<(line: LogLine) => void>();
  let pulls = 0;
  const peerUrl = `${args.includes('--cluster-key') ? 'https' : 'http'}://${host.address}:${PEER_PORT}`;

  const logTail = (n = 40): string => {
    const tail = lines.slice(-n).map(formatLine).join('\n');
    return `--- ${host.name} (${host.address}) shoal log, last ${Math.min(n, lines.length)} lines${stderr ? `; stderr: ${stderr.slice(-2_000)}` : ''} ---\n${tail}`;
  };

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 15_000, what = 'a log line'): Promise<LogLine> => {
    const found = lines.slice(runStart).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const listener = (line: LogLine): void => {
        if (!match(line)) return;
        cleanup();
        resolve(line);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${host.name}: timed out after ${timeoutMs} ms waiting for ${what}\n${logTail()}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      listeners.add(listener);
    });
  };

  const launch = async (): Promise<void> => {
    runStart = lines.length;
    stderr = '';
    const proc = host.spawnNode(SHOAL_BIN, fullArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    exited = new Promise((done) => proc.once('exit', (code) => done(code)));
    void exited.then(() => {
      if (child === proc) child = undefined;
    });
    createInterface({ input: proc.stdout! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: text };
      }
      lines.push(line);
      for (const listener of [...listeners]) listener(line);
    });
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-10_000)));
    const died = exited.then((code) => {
      throw new Error(`shoal on ${host.name} exited (${code ?? proc.signalCode}) while starting\n${logTail()}`);
    });
    died.catch(() => undefined);
    const started = await Promise.race([waitForLog((l) => l.msg === 'swarm started' || l.msg === 'shoal is serving as a standalone registry (no upstream configured)' || String(l.msg).startsWith('shoal is serving'), START_TIMEOUT_MS, 'shoal to start'), died]);
    if (started.msg === 'swarm started') {
      peerId = String(started.peerId);
      swarmStartedAt = Number(started.time);
    }
    await Promise.race([waitForLog((l) => String(l.msg).startsWith('shoal is serving'), START_TIMEOUT_MS, 'shoal is serving'), died]);
    // And the registry API answers inside the namespace.
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const { status, body } = await curlIn(host, `http://127.0.0.1:${REGISTRY_PORT}/v2/`, {}, 3_000);
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`shoal on ${host.name} does not answer /v2/ (last status ${status}: ${body})\n${logTail()}`);
      await sleep(50);
    }
  };

  const signal = async (sig: NodeJS.Signals): Promise<number | null> => {
    const proc = child;
    if (!proc) return null;
    proc.kill(sig);
    return exited;
  };

  const metrics = async (): Promise<NodeMetrics> => {
    const { status, body } = await curlIn(host, `http://127.0.0.1:${METRICS_PORT}/metrics`);
    if (status !== 200) throw new Error(`GET 127.0.0.1:${METRICS_PORT}/metrics on ${host.name} answered ${status}: ${body}\n${logTail()}`);
    return parseMetrics(body);
  };

  const node: ClusterNode = {
    name: host.name,
    host,
    address: host.address,
    dataDir,
    get peerId() {
      return peerId;
    },
    peerUrl,
    get running() {
      return child !== undefined;
    },
    args: fullArgs,
    logs: () => lines,
    runLogs: () => lines.slice(runStart),
    logTail,
    get swarmStartedAt() {
      return swarmStartedAt;
    },
    livePeers: () => {
      const peers = new Set<string>();
      for (const line of lines.slice(runStart)) {
        if (line.msg === 'peer joined') peers.add(String(line.peer));
        else if (line.msg === 'peer left') peers.delete(String(line.peer));
      }
      return peers;
    },
    waitForLog,
    waitForPeers: async (count, timeoutMs = DEFAULT_MESH_TIMEOUT_MS) => {
      const deadline = Date.now() + timeoutMs;
      let last = -1;
      for (;;) {
        last = (await metrics()).peers;
        if (last === count) return;
        if (Date.now() > deadline) throw new Error(`${host.name}: shoal_peers is ${last}, not ${count}, after ${timeoutMs} ms\n${logTail()}`);
        await sleep(100);
      }
    },
    metrics,
    pull: async (ref, options = {}) => {
      const dir = join(workDir, 'pulls', `${host.name}-${++pulls}`);
      await mkdir(join(workDir, 'pulls'), { recursive: true });
      const started = Date.now();
      const timeoutMs = options.timeoutMs ?? DEFAULT_SKOPEO_TIMEOUT_MS;
      const result = await host.exec(
        'skopeo',
        ['--insecure-policy', 'copy', '--src-tls-verify=false', ...(options.extraArgs ?? []), `docker://127.0.0.1:${REGISTRY_PORT}/${ref}`, `oci:${dir}:x`],
        { timeoutMs },
      );
      if (result.code !== 0) {
        const why = result.code === null ? `was killed (${result.signal}; timeout ${timeoutMs} ms?)` : `exited ${result.code}`;
        throw new Error(`pull of ${ref} on ${host.name} failed: skopeo ${why}:\n${result.stderr.trim()}\n${logTail()}`);
      }
      return { dir, ms: Date.now() - started, stderr: result.stderr };
    },
    push: async (ref, image, options = {}) => {
      const dir = join(workDir, 'pushes', `${host.name}-${++pulls}`);
      await writeOciLayout(dir, image, 'x');
      const result = await host.exec(
        'skopeo',
        ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${dir}:x`, `docker://127.0.0.1:${REGISTRY_PORT}/${ref}`],
        { timeoutMs: options.timeoutMs ?? DEFAULT_SKOPEO_TIMEOUT_MS },
      );
      await rm(dir, { recursive: true, force: true });
      if (result.code !== 0) throw new Error(`push of ${ref} to ${host.name} failed: skopeo exited ${result.code ?? result.signal}:\n${result.stderr.trim()}\n${logTail()}`);
      // skopeo compresses layers that are not gzip (random bytes) on the way: the pushed image
      // would then not be the one the test knows the digests of.
      const [repo, tag] = ref.split(':') as [string, string];
      const head = await host.exec('curl', ['-sS', '-I', '-H', `accept: ${image.mediaType}`, `http://127.0.0.1:${REGISTRY_PORT}/v2/${repo}/manifests/${tag ?? 'latest'}`]);
      const pushed = /^docker-content-digest:\s*(\S+)/im.exec(head.stdout)?.[1];
      if (pushed !== image.digest) {
        throw new Error(`push of ${ref} to ${host.name}: the registry holds manifest ${pushed ?? '(none)'}, not ${image.digest}: skopeo rewrote the image (layers must be real gzip, e.g. makeTarLayer)\n${head.stdout}`);
      }
    },
    exec: (cmd, args, options) => host.exec(cmd, args, options),
    curl: (url, headers) => curlIn(host, url, headers),
    blobPath: (digest) => blobDataPath(dataDir, digest),
    storedDigest: (digest) => fileDigest(blobDataPath(dataDir, digest)),
    stop: () => signal('SIGTERM'),
    crash: async () => void (await signal('SIGKILL')),
    restart: async () => {
      if (child) await signal('SIGTERM');
      await launch();
    },
  };
  await launch();
  return node;
}

// ---------------------------------------------------------------------------------------------
// The cluster

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const workDir = await mkdtemp(join(tmpdir(), 'shoal-cluster-'));
  let net: TestNetwork | undefined;
  const nodes: ClusterNode[] = [];
  let seed: ClusterSeed | undefined;
  let disposing: Promise<void> | undefined;
  let argsFor: (name: string) => string[] = () => [];
  const dispose = (): Promise<void> =>
    (disposing ??= (async () => {
      await Promise.allSettled(nodes.map((n) => n.crash()));
      await seed?.stop().catch(() => undefined);
      await net?.destroy();
      await rm(workDir, { recursive: true, force: true });
    })());

  try {
    net = await createTestNetwork({ hosts: options.hosts, ...(options.rateMbit ? { rateMbit: options.rateMbit } : {}) });
    const hosts = [...net.hosts];
    if (options.seed) seed = await startClusterSeed(net, workDir, options.seed.images, options.rateMbit);
    const upstream = (options.upstream ?? seed !== undefined) && seed ? ['--upstream', seed.url] : [];
    argsFor = (name: string) => [...upstream, ...(options.shoalArgs ?? []), ...(options.nodeArgs?.[name] ?? [])];
    const started = await Promise.allSettled(hosts.map((host) => startNode(host, workDir, argsFor(host.name))));
    for (const result of started) if (result.status === 'fulfilled') nodes.push(result.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;

    const expected = (node: ClusterNode): number => {
      const option = options.expectedPeers;
      if (typeof option === 'number') return option;
      if (option && option[node.name] !== undefined) return option[node.name]!;
      return node.args.includes('--no-mdns') ? 0 : nodes.length - 1;
    };
    // A node run with --no-swarm has no peer port (and no /metrics) to ask.
    const swarmNodes = nodes.filter((n) => !n.args.includes('--no-swarm'));
    const meshTimeout = options.meshTimeoutMs ?? DEFAULT_MESH_TIMEOUT_MS;
    await Promise.all(swarmNodes.map((n) => n.waitForPeers(expected(n), meshTimeout)));
  } catch (error) {
    await dispose().catch(() => undefined);
    throw error;
  }

  const theNet = net;
  const cluster: Cluster = {
    net: theNet,
    nodes,
    seed,
    workDir,
    node: (name) => {
      const found = nodes.find((n) => n.name === name);
      if (!found) throw new Error(`no node ${name} (nodes: ${nodes.map((n) => n.name).join(', ')})`);
      return found;
    },
    addNode: async (name, addOptions = {}) => {
      const host = await theNet.addHost(name, options.rateMbit ? { rateMbit: options.rateMbit } : {});
      const node = await startNode(host, workDir, [...argsFor(name), ...(addOptions.args ?? [])]);
      nodes.push(node);
      if (node.args.includes('--no-swarm')) return node;
      const expected = addOptions.expectedPeers ?? (node.args.includes('--no-mdns') ? 0 : nodes.filter((n) => n !== node && n.running && !n.args.includes('--no-swarm')).length);
      await node.waitForPeers(expected, options.meshTimeoutMs ?? DEFAULT_MESH_TIMEOUT_MS);
      return node;
    },
    logTails: (lines = 30) => nodes.map((n) => n.logTail(lines)).join('\n'),
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
  return cluster;
}
