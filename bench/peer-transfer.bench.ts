// Peer transfer: host b pulls one blob that host a holds, through b's shoal (b's daemon fetches it
// from a's data plane), on two network-namespace hosts joined by an unshaped veth and bridge
// (test/helpers/netns.ts). No seed: every byte must come from the peer. Baseline in the same run:
// the same bytes over the same path by a raw socket and curl (bench/lib/peer-baseline-server.ts).
// Each round pulls a fresh blob (b is never warm), baseline and shoal in turn, order alternating.
// Measured: MB/s for the client in b, CPU-seconds per GiB of each daemon (sender a, receiver b,
// all threads, /proc/<pid>/stat, until b has committed the blob), and of the baseline's server
// and curl; the baseline once into /dev/null and once into a new file beside b's store (what
// putting the bytes in the page cache costs here, which shoal's receiver cannot skip).
//
//   node bench/peer-transfer.bench.ts [--mib N] [--rounds N] [--work-dir DIR] [--cpu-prof[=DIR]] [--shoal-args='--piece-size 16MiB']
// --cpu-prof: both daemons write .cpuprofile files (one per thread) into DIR (default
//   bench/results/peer-profiles-<time>) when they stop; summarize with bench/tools/profile-summary.ts.
// Progress on stderr, the table on stdout, JSON in bench/results/peer-transfer-<time>.json and
// peer-transfer-latest.json. Needs root, iproute2 and curl.
import { readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster, type ClusterNode } from '../test/helpers/cluster.ts';
import { LOCAL_REGISTRY } from '../test/helpers/cluster/constants.ts';
import type { TestHost } from '../test/helpers/netns.ts';
import { parseFlags } from './lib/args.ts';
import { fmt, median, MiB, progress, table } from './lib/fanout-report.ts';
import { cpuDelta, cpuTimes, type CpuTimes } from './lib/proc-cpu.ts';
import { waitForFile } from './lib/pull-phase.ts';
import { writeRandomFile, type BlobFile } from './lib/random-file.ts';
import { buildDaemon } from './lib/servers.ts';

const GiB = 1024 * MiB;
const REPO = 'bench/peer';
const BASELINE_PORT = 6000;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The goal of issue 9: one blob from one peer at line rate of a 10 GbE host. */
const GOAL_MB_PER_S = 1000;

interface Options {
  readonly sizeBytes: number;
  readonly rounds: number;
  readonly cpuProfDir: string | undefined;
  /** Where blobs and both stores live: the system temp dir (a disk) unless told; /dev/shm makes every write allocate shared memory (the receiver's writes cost 4× as much CPU). */
  readonly workDir: string;
  /** Extra `shoal serve` arguments for both daemons (e.g. `--piece-size 16MiB`). */
  readonly shoalArgs: readonly string[];
}

function parseOptions(argv: readonly string[]): Options {
  const flags = parseFlags(argv, { switches: [], values: ['mib', 'rounds', 'shoal-args', 'work-dir'], optional: ['cpu-prof'] });
  const positive = (name: string, fallback: number): number => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, not ${String(raw)}`);
    return n;
  };
  const prof = flags.get('cpu-prof');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    sizeBytes: Math.round(positive('mib', 512) * MiB),
    rounds: Math.round(positive('rounds', 3)),
    workDir: String(flags.get('work-dir') ?? tmpdir()),
    shoalArgs: String(flags.get('shoal-args') ?? '').split(' ').filter(Boolean),
    cpuProfDir: prof === undefined ? undefined : prof === true ? join(ROOT, 'bench', 'results', `peer-profiles-${stamp}`) : prof,
  };
}

interface Transfer {
  readonly seconds: number;
  readonly mbPerSec: number;
  /** CPU-seconds per GiB moved, by who spent it. */
  readonly senderCpuPerGiB: number | undefined;
  readonly receiverCpuPerGiB: number | undefined;
}

const perGiB = (cpu: CpuTimes | undefined, bytes: number): number | undefined => (cpu ? (cpu.userMs + cpu.systemMs) / 1000 / (bytes / GiB) : undefined);

/** curl in `host` into /dev/null (or a new file `into`, removed after); its own timing, and its CPU from bash's `times` (children's user and system). */
async function curlTimed(host: TestHost, url: string, size: number, into = '/dev/null'): Promise<{ seconds: number; cpu: CpuTimes }> {
  const script = `curl -sS -o '${into}' --max-time 300 -w '%{http_code} %{size_download} %{time_total}\\n' '${url}'; times${into === '/dev/null' ? '' : `; rm -f '${into}'`}`;
  const result = await host.exec('bash', ['-c', script], { timeoutMs: 310_000 });
  const lines = result.stdout.trim().split('\n');
  const [status, bytes, total] = (lines[0] ?? '').split(' ');
  if (status !== '200' || Number(bytes) !== size) throw new Error(`GET ${url} in ${host.name}: status ${status}, ${bytes} of ${size} bytes\n${result.stderr}`);
  const seconds = (text: string | undefined): number => {
    const match = /^(\d+)m([\d.]+)s$/.exec(text ?? '');
    return match ? Number(match[1]) * 60 + Number(match[2]) : Number.NaN;
  };
  const [childUser, childSystem] = (lines.at(-1) ?? '').split(' ');
  return { seconds: Number(total), cpu: { userMs: seconds(childUser) * 1000, systemMs: seconds(childSystem) * 1000 } };
}

/**
 * The raw baseline: a plain socket server in a sends the blob, curl in b reads it into /dev/null,
 * then again into a new file beside b's store (`storeDir`): what receiving costs when the bytes
 * also go into the page cache, as every receiver that stores them must (on this VM new page-cache
 * pages cost most of it: free pages are given back to the host and faulted in again).
 */
async function baselineRound(a: TestHost, b: TestHost, blob: BlobFile, storeDir: string): Promise<{ toNull: Transfer; toFile: Transfer }> {
  const server = a.spawnNode(join(ROOT, 'bench', 'lib', 'peer-baseline-server.ts'), [blob.path, a.address, String(BASELINE_PORT)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`the baseline server exited (${code})`)));
    });
    const timed = async (into?: string): Promise<Transfer> => {
      const before = cpuTimes(server.pid!);
      const got = await curlTimed(b, `http://${a.address}:${BASELINE_PORT}/blob`, blob.size, into);
      const sender = cpuDelta(before, cpuTimes(server.pid!));
      return { seconds: got.seconds, mbPerSec: blob.size / 1e6 / got.seconds, senderCpuPerGiB: perGiB(sender, blob.size), receiverCpuPerGiB: perGiB(got.cpu, blob.size) };
    };
    return { toNull: await timed(), toFile: await timed(join(storeDir, `baseline-${blob.digest.slice(7, 19)}`)) };
  } finally {
    server.kill('SIGKILL');
  }
}

/** CPU ms by thread name (user+system) of `pid`, summed over threads of the same name; the event loop's thread is `main` (workers and V8's helpers are `node` too). */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // the thread ended
    }
  }
  return out;
}

function threadDelta(before: Map<string, number>, after: Map<string, number>): string {
  return [...after].map(([name, ms]) => [name, ms - (before.get(name) ?? 0)] as const).filter(([, ms]) => ms > 0).sort((x, y) => y[1] - x[1]).map(([name, ms]) => `${name} ${ms}`).join(', ');
}

async function shoalRound(a: ClusterNode, b: ClusterNode, blob: BlobFile): Promise<Transfer & { fromPeers: number; fromSeed: number; clientCpuPerGiB: number | undefined }> {
  const figuresBefore = await b.figures();
  const aBefore = cpuTimes(a.pid);
  const bBefore = cpuTimes(b.pid);
  const bThreads = threadCpu(b.pid);
  const aThreads = threadCpu(a.pid);
  const got = await curlTimed(b.host, `${LOCAL_REGISTRY}/v2/${REPO}/blobs/${blob.digest}`, blob.size);
  await waitForFile(b.blobPath(blob.digest), blob.size, 120_000);
  const sender = cpuDelta(aBefore, cpuTimes(a.pid));
  const receiver = cpuDelta(bBefore, cpuTimes(b.pid));
  progress(`    threads, ms: receiver ${threadDelta(bThreads, threadCpu(b.pid))}; sender ${threadDelta(aThreads, threadCpu(a.pid))}`);
  const figuresAfter = await b.figures();
  return {
    seconds: got.seconds,
    mbPerSec: blob.size / 1e6 / got.seconds,
    senderCpuPerGiB: perGiB(sender, blob.size),
    receiverCpuPerGiB: perGiB(receiver, blob.size),
    clientCpuPerGiB: perGiB(got.cpu, blob.size),
    fromPeers: figuresAfter.peerReceivedBytes - figuresBefore.peerReceivedBytes,
    fromSeed: figuresAfter.seedBytes - figuresBefore.seedBytes,
  };
}

async function senderRound(a: ClusterNode, b: TestHost, blob: BlobFile): Promise<Transfer> {
  const before = cpuTimes(a.pid);
  const got = await curlTimed(b, `${a.peerUrl}/blobs/${blob.digest}`, blob.size);
  const sender = cpuDelta(before, cpuTimes(a.pid));
  return { seconds: got.seconds, mbPerSec: blob.size / 1e6 / got.seconds, senderCpuPerGiB: perGiB(sender, blob.size), receiverCpuPerGiB: perGiB(got.cpu, blob.size) };
}

/** Puts `blob` in a's store before its daemon starts (the registry:2 layout shoal serves in place). */
async function plant(dataDir: string, blob: BlobFile): Promise<void> {
  const hex = blob.digest.slice('sha256:'.length);
  const path = join(dataDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  await mkdir(dirname(path), { recursive: true });
  await copyFile(blob.path, path);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  buildDaemon(options.cpuProfDir !== undefined);
  const startedAt = new Date();
  progress(`peer transfer, ${options.sizeBytes / MiB} MiB × ${options.rounds} rounds, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const workDir = await mkdtemp(join(options.workDir, 'shoal-peer-'));
  let cluster: Cluster | undefined;
  const rounds: Array<{ baseline: Transfer; baselineToFile: Transfer; shoal: Awaited<ReturnType<typeof shoalRound>>; senderAlone: Transfer }> = [];
  try {
    const blobs: BlobFile[] = [];
    for (let i = 0; i < options.rounds; i++) blobs.push(await writeRandomFile(join(workDir, `blob-${i}`), options.sizeBytes));
    const warm = await writeRandomFile(join(workDir, 'warm'), MiB);
    for (const blob of [warm, ...blobs]) await plant(join(workDir, 'nodes', 'a'), blob);
    cluster = await startCluster({ hosts: ['a', 'b'], daemons: false, workDir, logLevel: 'info', deployedRuntime: true, prefix: 'shoalpt', shoalArgs: options.shoalArgs });
    const [hostA, hostB] = cluster.net.hosts;
    if (options.cpuProfDir) {
      await mkdir(options.cpuProfDir, { recursive: true });
      process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${options.cpuProfDir}`.trim();
    }
    await cluster.startDaemons();
    delete process.env.NODE_OPTIONS;
    const a = cluster.node('a');
    const b = cluster.node('b');
    progress(`hosts up: a ${hostA!.address} (pid ${a.pid}), b ${hostB!.address} (pid ${b.pid}), connected`);
    // A small blob first: the daemons load some modules on their first transfer, and the first
    // connection between them would be timed too.
    await shoalRound(a, b, warm);
    for (let round = 0; round < options.rounds; round++) {
      const blob = blobs[round]!;
      const runBaseline = () => baselineRound(hostA!, hostB!, blob, join(workDir, 'nodes', 'b'));
      const runShoal = () => shoalRound(a, b, blob);
      let raw: Awaited<ReturnType<typeof baselineRound>>;
      let shoal: Awaited<ReturnType<typeof shoalRound>>;
      if (round % 2 === 0) {
        raw = await runBaseline();
        shoal = await runShoal();
      } else {
        shoal = await runShoal();
        raw = await runBaseline();
      }
      const { toNull: baseline, toFile: baselineToFile } = raw;
      // The sender's half alone: curl in b reads the blob straight from a's data plane.
      const senderAlone = await senderRound(a, hostB!, blob);
      if (shoal.fromPeers < blob.size || shoal.fromSeed > 0) throw new Error(`b got ${shoal.fromPeers} bytes from peers and ${shoal.fromSeed} from a seed, expected all ${blob.size} from a`);
      rounds.push({ baseline, baselineToFile, shoal, senderAlone });
      progress(
        `  round ${round + 1}/${options.rounds}: shoal ${fmt(shoal.mbPerSec, 0)} MB/s (sender ${fmt(shoal.senderCpuPerGiB)}, receiver ${fmt(shoal.receiverCpuPerGiB)} CPU-s/GiB); ` +
          `raw ${fmt(baseline.mbPerSec, 0)} MB/s (sender ${fmt(baseline.senderCpuPerGiB)}, curl ${fmt(baseline.receiverCpuPerGiB)} CPU-s/GiB); ` +
          `raw into a file ${fmt(baselineToFile.mbPerSec, 0)} MB/s (curl ${fmt(baselineToFile.receiverCpuPerGiB)} CPU-s/GiB); ` +
          `a's data plane to curl ${fmt(senderAlone.mbPerSec, 0)} MB/s (${fmt(senderAlone.senderCpuPerGiB)} CPU-s/GiB)`,
      );
    }
    if (options.cpuProfDir) {
      // Profiles are written when the process exits of its own accord.
      await Promise.all([a.stop(10_000), b.stop(10_000)]);
      progress(`CPU profiles in ${options.cpuProfDir}`);
    }
  } finally {
    await cluster?.dispose();
    await rm(workDir, { recursive: true, force: true });
  }

  const pick = (f: (r: (typeof rounds)[number]) => number | undefined): number => median(rounds.map(f).filter((x): x is number => x !== undefined));
  const range = (f: (r: (typeof rounds)[number]) => number | undefined, digits: number): string => {
    const values = rounds.map(f).filter((x): x is number => x !== undefined);
    return `${fmt(median(values), digits)} (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)})`;
  };
  const ratio = pick((r) => r.shoal.mbPerSec) / pick((r) => r.baseline.mbPerSec);
  const rows = [
    ['metric', 'shoal', 'raw TCP + curl', 'ratio', 'goal'],
    [`MB/s, ${options.sizeBytes / MiB} MiB blob b ← a (median (range) of ${rounds.length})`, range((r) => r.shoal.mbPerSec, 0), range((r) => r.baseline.mbPerSec, 0), `${fmt(ratio)}×`, `≥ ${GOAL_MB_PER_S} MB/s: ${pick((r) => r.shoal.mbPerSec) >= GOAL_MB_PER_S ? 'PASS' : 'FAIL'}`],
    ['sender CPU-s per GiB (daemon a / raw server)', range((r) => r.shoal.senderCpuPerGiB, 2), range((r) => r.baseline.senderCpuPerGiB, 2), `${fmt(pick((r) => r.shoal.senderCpuPerGiB) / pick((r) => r.baseline.senderCpuPerGiB))}×`, ''],
    ['receiver CPU-s per GiB (daemon b / curl)', range((r) => r.shoal.receiverCpuPerGiB, 2), range((r) => r.baseline.receiverCpuPerGiB, 2), `${fmt(pick((r) => r.shoal.receiverCpuPerGiB) / pick((r) => r.baseline.receiverCpuPerGiB))}×`, ''],
    ['raw TCP + curl into a new file on b\'s disk: MB/s', '', range((r) => r.baselineToFile.mbPerSec, 0), `${fmt(pick((r) => r.shoal.mbPerSec) / pick((r) => r.baselineToFile.mbPerSec))}×`, ''],
    ['raw TCP + curl into a new file on b\'s disk: curl CPU-s per GiB', '', range((r) => r.baselineToFile.receiverCpuPerGiB, 2), '', ''],
    ['curl in b reading from its daemon, CPU-s per GiB', range((r) => r.shoal.clientCpuPerGiB, 2), '', '', ''],
    ["a's data plane read by curl in b: MB/s", range((r) => r.senderAlone.mbPerSec, 0), '', '', ''],
    ["a's data plane read by curl in b: daemon a CPU-s per GiB", range((r) => r.senderAlone.senderCpuPerGiB, 2), '', '', ''],
  ];
  process.stdout.write(`\n${table(rows)}\n\n`);
  const report = { benchmark: 'peer-transfer', startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), options, environment: { node: process.version, cpus: cpus().length, loadavgAfter: loadavg() }, rounds, table: rows };
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const file = join(dir, `peer-transfer-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, json);
  await writeFile(join(dir, 'peer-transfer-latest.json'), json);
  progress(`results written to ${file} and peer-transfer-latest.json`);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
