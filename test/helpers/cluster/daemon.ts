// One `shoal serve` on a host of the test LAN, and what a test or a benchmark does with it from
// inside that host: pull and push with skopeo, curl, read its figures, stop, crash, restart.
//
// The daemon listens on 127.0.0.1:5000 (registry API and /_shoal/status), <host address>:5001
// (libp2p), :5002 (peer data plane) and 127.0.0.1:5003 (/metrics), all inside its namespace.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../../src/daemon/runtime-flags.ts';
import { writeOciLayout, type TestImage } from '../images.ts';
import type { TestHost } from '../netns.ts';
import { DEFAULT_MESH_TIMEOUT_MS, LOCAL_REGISTRY, METRICS_PORT, P2P_PORT, PEER_PORT, REGISTRY_PORT, ROOT, SHOAL_BIN, START_TIMEOUT_MS, sleep } from './constants.ts';
import { createDaemonLog, type LogLine } from './daemon-log.ts';
import { curlIn, exitOf, pullArgs, pushArgs, spawnSkopeo, type CurlResult, type SkopeoRun } from './host-client.ts';
import { readMetrics, type MetricSamples } from './metrics.ts';
import { figuresOf, readStatus, type NodeFigures } from './status.ts';

const DEFAULT_SKOPEO_TIMEOUT_MS = 180_000;

export interface DaemonOptions {
  readonly dataDir: string;
  /** Where pulls and pushes keep their OCI layouts. */
  readonly workDir: string;
  /** `shoal serve` arguments after the harness's own (ports, data dir, addresses). */
  readonly args?: readonly string[];
  /** Default debug (everything a failing test may need); a benchmark runs at info. */
  readonly logLevel?: string;
  /** Run with the V8 flags and environment production uses (bin/shoal.js's shebang, npm start), as a benchmark measures. */
  readonly deployedRuntime?: boolean;
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
  /** The daemon's pid (of this run), for CPU and memory sampling. */
  readonly pid: number;
  /** The libp2p peer id (persisted in the data dir, so a restart keeps it). */
  readonly peerId: string;
  /** `http(s)://<address>:5002`: the data plane other peers fetch from. */
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
  /** Polls the status snapshot until the node sees exactly `count` peers. */
  waitForPeers(count: number, timeoutMs?: number): Promise<void>;
  /** Byte counters and peers from GET /_shoal/status. */
  figures(): Promise<NodeFigures>;
  /** The Prometheus samples, for what the status snapshot lacks (memory, peers that left). */
  metrics(): Promise<MetricSamples>;
  /** `skopeo copy docker://127.0.0.1:5000/<ref> oci:<temp dir>:x` inside the host; throws with skopeo's stderr and the shoal log tail. */
  pull(ref: string, options?: { timeoutMs?: number; extraArgs?: readonly string[] }): Promise<PullResult>;
  /** Pushes an OCI-format image (from an OCI layout) to this host's shoal as `<ref>`. */
  push(ref: string, image: TestImage, options?: { timeoutMs?: number }): Promise<void>;
  /** Runs a command inside the host. */
  exec: TestHost['exec'];
  /** `curl` inside the host; returns the HTTP status and the body. */
  curl(url: string, headers?: Readonly<Record<string, string>>): Promise<CurlResult>;
  /** Where a committed blob lives on this host's disk. */
  blobPath(digest: string): string;
  /** sha256 of the stored blob file, `sha256:<hex>`, or undefined when absent. */
  storedDigest(digest: string): Promise<string | undefined>;
  /** SIGTERM and wait for the exit (SIGKILL after `killAfterMs`, when given); resolves to the exit code. */
  stop(killAfterMs?: number): Promise<number | null>;
  /** SIGKILL: no draining, no goodbye. */
  crash(): Promise<void>;
  /** Starts the daemon again with the same arguments and data dir; waits until /v2/ answers. */
  restart(): Promise<void>;
}

export function blobDataPath(dataDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return join(dataDir, 'docker', 'registry', 'v2', 'blobs', algorithm, hex.slice(0, 2), hex, 'data');
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

const isServing = (l: LogLine): boolean => String(l.msg).startsWith('shoal is serving');

/** Starts `shoal serve` on `host`; resolves once it logged that it serves and its /v2/ answers. */
export async function startDaemon(host: TestHost, options: DaemonOptions): Promise<ClusterNode> {
  const { dataDir, workDir } = options;
  await mkdir(dataDir, { recursive: true });
  const args = options.args ?? [];
  const fullArgs = [
    'serve',
    '--listen', `127.0.0.1:${REGISTRY_PORT}`,
    '--data-dir', dataDir,
    '--bind-address', host.address,
    '--p2p-port', String(P2P_PORT),
    '--peer-port', String(PEER_PORT),
    '--metrics-listen', `127.0.0.1:${METRICS_PORT}`,
    '--log-level', options.logLevel ?? 'debug',
    ...args,
  ];
  const log = createDaemonLog(`${host.name} (${host.address})`);
  let child: ReturnType<TestHost['spawn']> | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  let peerId = '';
  let swarmStartedAt = 0;
  let copies = 0;
  const peerUrl = `${args.includes('--cluster-key') ? 'https' : 'http'}://${host.address}:${PEER_PORT}`;
  const logTail = (n?: number): string => log.tail(n);

  const launch = async (): Promise<void> => {
    const proc = options.deployedRuntime
      ? host.spawn(process.execPath, [...DAEMON_NODE_FLAGS, SHOAL_BIN, ...fullArgs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: DAEMON_ENV })
      : host.spawnNode(SHOAL_BIN, fullArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    exited = exitOf(proc).then(({ code }) => code);
    void exited.then(() => {
      if (child === proc) child = undefined;
    });
    log.follow(proc.stdout!, proc.stderr!);
    const died = exited.then((code) => {
      throw new Error(`shoal on ${host.name} exited (${code ?? proc.signalCode}) while starting\n${logTail()}`);
    });
    died.catch(() => undefined);
    const started = await Promise.race([log.waitFor((l) => l.msg === 'swarm started' || isServing(l), START_TIMEOUT_MS, 'shoal to start'), died]);
    if (started.msg === 'swarm started') {
      peerId = String(started.peerId);
      swarmStartedAt = Number(started.time);
    }
    await Promise.race([log.waitFor(isServing, START_TIMEOUT_MS, 'shoal is serving'), died]);
    // And the registry API answers inside the namespace.
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const { status, body } = await curlIn(host, `${LOCAL_REGISTRY}/v2/`, { timeoutMs: 3_000 });
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`shoal on ${host.name} does not answer /v2/ (last status ${status}: ${body})\n${logTail()}`);
      await sleep(50);
    }
  };

  const signal = async (sig: NodeJS.Signals, killAfterMs?: number): Promise<number | null> => {
    const proc = child;
    if (!proc) return null;
    proc.kill(sig);
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };

  const figures = async (): Promise<NodeFigures> => figuresOf(await readStatus(host, logTail));

  const skopeo = async (what: string, skopeoArgs: readonly string[], timeoutMs = DEFAULT_SKOPEO_TIMEOUT_MS): Promise<SkopeoRun> => {
    const run = await spawnSkopeo(host, skopeoArgs, timeoutMs);
    if (!run.ok) throw new Error(`${what} on ${host.name} failed: ${run.stderr.trim()}\n${logTail()}`);
    return run;
  };

  const node: ClusterNode = {
    name: host.name,
    host,
    address: host.address,
    dataDir,
    get pid() {
      return child?.pid ?? 0;
    },
    get peerId() {
      return peerId;
    },
    peerUrl,
    get running() {
      return child !== undefined;
    },
    args: fullArgs,
    logs: log.all,
    runLogs: log.run,
    logTail,
    get swarmStartedAt() {
      return swarmStartedAt;
    },
    livePeers: log.livePeers,
    waitForLog: log.waitFor,
    waitForPeers: async (count, timeoutMs = DEFAULT_MESH_TIMEOUT_MS) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const peers = (await figures()).peers;
        if (peers === count) return;
        if (Date.now() > deadline) throw new Error(`${host.name}: sees ${peers} peers, not ${count}, after ${timeoutMs} ms\n${logTail()}`);
        await sleep(100);
      }
    },
    figures,
    metrics: () => readMetrics(host, logTail),
    pull: async (ref, pullOptions = {}) => {
      await mkdir(join(workDir, 'pulls'), { recursive: true });
      const dir = join(workDir, 'pulls', `${host.name}-${++copies}`);
      const run = await skopeo(`pull of ${ref}`, pullArgs(`docker://127.0.0.1:${REGISTRY_PORT}/${ref}`, dir, pullOptions.extraArgs), pullOptions.timeoutMs);
      return { dir, ms: run.endedAt - run.startedAt, stderr: run.stderr };
    },
    push: async (ref, image, pushOptions = {}) => {
      const dir = join(workDir, 'pushes', `${host.name}-${++copies}`);
      await writeOciLayout(dir, image, 'x');
      try {
        await skopeo(`push of ${ref}`, pushArgs(dir, `docker://127.0.0.1:${REGISTRY_PORT}/${ref}`), pushOptions.timeoutMs);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      // skopeo compresses layers that are not gzip (random bytes) on the way: the pushed image
      // would then not be the one the test knows the digests of.
      const [repo, tag] = ref.split(':') as [string, string];
      const head = await host.exec('curl', ['-sS', '-I', '-H', `accept: ${image.mediaType}`, `${LOCAL_REGISTRY}/v2/${repo}/manifests/${tag ?? 'latest'}`]);
      const pushed = /^docker-content-digest:\s*(\S+)/im.exec(head.stdout)?.[1];
      if (pushed !== image.digest) {
        throw new Error(`push of ${ref} to ${host.name}: the registry holds manifest ${pushed ?? '(none)'}, not ${image.digest}: skopeo rewrote the image (layers must be real gzip, e.g. makeTarLayer)\n${head.stdout}`);
      }
    },
    exec: (cmd, execArgs, execOptions) => host.exec(cmd, execArgs, execOptions),
    curl: (url, headers) => curlIn(host, url, headers ? { headers } : {}),
    blobPath: (digest) => blobDataPath(dataDir, digest),
    storedDigest: (digest) => fileDigest(blobDataPath(dataDir, digest)),
    stop: (killAfterMs) => signal('SIGTERM', killAfterMs),
    crash: async () => void (await signal('SIGKILL')),
    restart: async () => {
      if (child) await signal('SIGTERM');
      await launch();
    },
  };
  await launch();
  return node;
}
