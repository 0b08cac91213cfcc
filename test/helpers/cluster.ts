// A shoal cluster on a test LAN: every host a network namespace (netns.ts) running one real
// `shoal serve` daemon, plus an optional seed host running Debian's docker-registry. The tests
// and the benchmarks (bench/fanout.bench.ts) share it. Everything asked of a host (its registry
// API, its status snapshot, skopeo pulls and pushes) runs inside that host's namespace: the root
// namespace cannot reach the LAN, and the LAN cannot reach out.
//
//   const cluster = await startCluster({ hosts: 4, seed: { images: [{ repo: 'app', tag: '1', image }] } });
//   await cluster.node('h1').pull('app:1');
//   (await cluster.node('h1').figures()).seedBytes;
//   await cluster.seed!.blobBytesServed({ from: cluster.node('h2') });
//   await cluster.dispose();
//
// The parts, in cluster/: constants (ports), host-client (curl, skopeo in a namespace), seed-host,
// daemon (+ daemon-log), status (figures from GET /_shoal/status), metrics (what status lacks).
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestNetwork, type TestNetwork } from './netns.ts';
import { DEFAULT_MESH_TIMEOUT_MS, ROOT, SHOAL_BIN } from './cluster/constants.ts';
import { startDaemon, type ClusterNode } from './cluster/daemon.ts';
import { fillSeedData, startSeedHost, type ClusterSeed, type SeedImage } from './cluster/seed-host.ts';

export { METRICS_PORT, P2P_PORT, PEER_PORT, REGISTRY_PORT, ROOT } from './cluster/constants.ts';
export { blobDataPath, type ClusterNode, type PullResult } from './cluster/daemon.ts';
export type { LogLine } from './cluster/daemon-log.ts';
export type { ClusterSeed, LoggedSeedRequest, SeedFilter, SeedImage } from './cluster/seed-host.ts';
export { figuresDelta, type NodeFigures } from './cluster/status.ts';

export interface ClusterOptions {
  /** How many shoal hosts (h1, h2, ...) or their names. */
  readonly hosts: number | readonly string[];
  /** A seed registry host (named `seed`) filled with these images; every shoal gets `--upstream` to it unless `upstream: false`. */
  readonly seed?: { readonly images: readonly SeedImage[]; readonly logLevel?: 'error' | 'warn' | 'info' };
  /** Pass `--upstream http://<seed>:5000` to the daemons (default: true when there is a seed). */
  readonly upstream?: boolean;
  /** Extra `shoal serve` arguments for every host. */
  readonly shoalArgs?: readonly string[];
  /** Extra `shoal serve` arguments per host name (after `shoalArgs`). */
  readonly nodeArgs?: Readonly<Record<string, readonly string[]>>;
  /** The daemons' log level (default debug). */
  readonly logLevel?: string;
  /** Run the daemons with production's V8 flags and environment (a benchmark measures them as deployed). */
  readonly deployedRuntime?: boolean;
  /** Shapes every shoal host's link (the seed's too) to this many Mbit/s each way. */
  readonly rateMbit?: number;
  /**
   * Peers each node must see before its start returns: a number for all, or per host name.
   * Default: every other host when mDNS is on, none with `--no-mdns`.
   */
  readonly expectedPeers?: number | Readonly<Record<string, number>>;
  readonly meshTimeoutMs?: number;
  /** false: hosts and seed only; the daemons start at `startDaemons()` (a benchmark measures the bare hosts first). */
  readonly daemons?: boolean;
  /** Use this (existing) directory for data and pulls, and leave it to the caller; default: a temp dir removed at dispose. */
  readonly workDir?: string;
  /** Namespace name prefix (netns.ts). */
  readonly prefix?: string;
}

export interface Cluster {
  readonly net: TestNetwork;
  readonly nodes: readonly ClusterNode[];
  readonly seed: ClusterSeed | undefined;
  readonly workDir: string;
  node(name: string): ClusterNode;
  /** Starts a daemon on every host (when started with `daemons: false`) and waits for the mesh. */
  startDaemons(): Promise<readonly ClusterNode[]>;
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

/** `shoal keygen --output file` (in the root namespace: it needs no network). */
export function keygen(file: string): void {
  const result = spawnSync(process.execPath, [SHOAL_BIN, 'keygen', '--output', file], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`shoal keygen --output ${file} exited ${result.status}: ${result.stderr}`);
}

const swarmOn = (node: ClusterNode): boolean => !node.args.includes('--no-swarm');
const mdnsOn = (node: ClusterNode): boolean => !node.args.includes('--no-mdns');

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const ownWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'shoal-cluster-')));
  const shaping = options.rateMbit ? { rateMbit: options.rateMbit } : {};
  const meshTimeout = options.meshTimeoutMs ?? DEFAULT_MESH_TIMEOUT_MS;
  let net: TestNetwork | undefined;
  const nodes: ClusterNode[] = [];
  let seed: ClusterSeed | undefined;
  let disposing: Promise<void> | undefined;
  const dispose = (): Promise<void> =>
    (disposing ??= (async () => {
      await Promise.allSettled(nodes.map((n) => n.crash()));
      await seed?.stop().catch(() => undefined);
      await net?.destroy();
      if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
    })());

  const argsFor = (name: string): string[] => {
    const upstream = (options.upstream ?? seed !== undefined) && seed ? ['--upstream', seed.url] : [];
    return [...upstream, ...(options.shoalArgs ?? []), ...(options.nodeArgs?.[name] ?? [])];
  };
  const launch = (host: TestNetwork['hosts'][number], extraArgs: readonly string[] = []): Promise<ClusterNode> =>
    startDaemon(host, {
      dataDir: join(workDir, 'nodes', host.name),
      workDir,
      args: [...argsFor(host.name), ...extraArgs],
      ...(options.logLevel ? { logLevel: options.logLevel } : {}),
      ...(options.deployedRuntime ? { deployedRuntime: true } : {}),
    });

  const startDaemons = async (theNet: TestNetwork): Promise<readonly ClusterNode[]> => {
    const started = await Promise.allSettled(theNet.hosts.filter((h) => h !== seed?.host && !nodes.some((n) => n.host === h)).map((host) => launch(host)));
    for (const result of started) if (result.status === 'fulfilled') nodes.push(result.value);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const expected = (node: ClusterNode): number => {
      const option = options.expectedPeers;
      if (typeof option === 'number') return option;
      if (option && option[node.name] !== undefined) return option[node.name]!;
      return mdnsOn(node) ? nodes.length - 1 : 0;
    };
    // A node run with --no-swarm has no swarm whose peers to count.
    await Promise.all(nodes.filter(swarmOn).map((n) => n.waitForPeers(expected(n), meshTimeout)));
    return nodes;
  };

  try {
    net = await createTestNetwork({ hosts: options.hosts, ...shaping, ...(options.prefix ? { prefix: options.prefix } : {}) });
    if (options.seed) {
      const dataDir = join(workDir, 'seed-data');
      await fillSeedData(dataDir, options.seed.images);
      const host = await net.addHost('seed', shaping);
      seed = await startSeedHost(host, { dataDir, workDir, ...(options.seed.logLevel ? { logLevel: options.seed.logLevel } : {}) });
    }
    if (options.daemons !== false) await startDaemons(net);
  } catch (error) {
    await dispose().catch(() => undefined);
    throw error;
  }

  const theNet = net;
  return {
    net: theNet,
    nodes,
    seed,
    workDir,
    node: (name) => {
      const found = nodes.find((n) => n.name === name);
      if (!found) throw new Error(`no node ${name} (nodes: ${nodes.map((n) => n.name).join(', ')})`);
      return found;
    },
    startDaemons: () => startDaemons(theNet),
    addNode: async (name, addOptions = {}) => {
      const node = await launch(await theNet.addHost(name, shaping), addOptions.args);
      nodes.push(node);
      if (!swarmOn(node)) return node;
      const expected = addOptions.expectedPeers ?? (mdnsOn(node) ? nodes.filter((n) => n !== node && n.running && swarmOn(n)).length : 0);
      await node.waitForPeers(expected, meshTimeout);
      return node;
    },
    logTails: (lines = 30) => nodes.map((n) => n.logTail(lines)).join('\n'),
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}
