// shoal against Debian's registry:2 (distribution 2.8.2) on loopback, same machine, same data:
//   1. local-hit blob GET throughput (MB/s)
//   2. manifest GET by tag at 64 connections (req/s, autocannon), shoal standalone
//   3. pull-through of a blob through a cold shoal whose upstream is the registry:2, vs a cold
//      registry:2 in proxy mode in front of the same seed, vs direct (bench/lib/pull-phase.ts)
// The two servers are interleaved round by round (the machine is small and shared), medians are
// reported. Progress on stderr, the table on stdout, JSON under bench/results/.
//
//   node bench/registry.bench.ts [--quick] [--only blob,manifest,pull] [--blob-mib N] [--pull-mib N]
//        [--duration S] [--blob-rounds N] [--manifest-rounds N] [--pull-rounds N] [--connections N]
//        [--cpu-prof[=DIR]] [--shoal-entry FILE] [--strict]
// Environment: BENCH_QUICK=1, BENCH_ONLY, BENCH_BLOB_MIB, BENCH_PULL_MIB, BENCH_DURATION, BENCH_BLOB_ROUNDS,
// BENCH_MANIFEST_ROUNDS, BENCH_PULL_ROUNDS, BENCH_CONNECTIONS, BENCH_CPU_PROF, BENCH_SHOAL_ENTRY.
// --cpu-prof: shoal children write .cpuprofile files, one per thread (default dir bench/results/profiles-<time>;
//   summarize with bench/tools/profile-summary.ts). --shoal-entry: start this script instead of
//   bin/shoal.js (same arguments), to A/B a candidate change such as bench/experiments/*.
// --strict: exit 1 when a goal is missed (the default exit status only reflects errors).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { runAutocannon, type AutocannonResult } from './lib/autocannon.ts';
import { cleanupAll, trackTempDir } from './lib/cleanup.ts';
import { benchAgent, curlGet, median, progress, timedGet, type TimedGet } from './lib/http-get.ts';
import { cpuDelta, cpuTimes, type CpuTimes } from './lib/proc-cpu.ts';
import { OCI_MANIFEST, pushBlob, pushImage, type PushedImage } from './lib/push.ts';
import { writeRandomFile, type BlobFile } from './lib/random-file.ts';
import { parseFlags } from './lib/args.ts';
import { pullPhase, type PullPhaseResult } from './lib/pull-phase.ts';
import { REGISTRY2_BINARY, REPO_ROOT, buildDaemon, startRegistry2, startShoal, type RunningServer } from './lib/servers.ts';

const MiB = 1024 * 1024;
const PHASES = ['blob', 'manifest', 'pull'] as const;
type Phase = (typeof PHASES)[number];

interface Options {
  readonly quick: boolean;
  readonly only: ReadonlySet<Phase>;
  readonly blobBytes: number;
  readonly pullBytes: number;
  readonly blobRounds: number;
  /** autocannon runs per server */
  readonly manifestRounds: number;
  readonly manifestSeconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  readonly pullRounds: number;
  /** Directory for shoal children's .cpuprofile files, when profiling. */
  readonly cpuProfDir: string | undefined;
  /** Exit 1 when a goal is missed. */
  readonly strict: boolean;
  /** Script started instead of bin/shoal.js, to measure a candidate change (e.g. bench/experiments/*). */
  readonly shoalEntry: string | undefined;
}

const GOALS = { blobThroughputRatio: 1.2, manifestRpsRatio: 3 } as const;

function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options {
  const flags = parseFlags(argv, {
    switches: ['quick', 'strict'],
    optional: ['cpu-prof'],
    values: ['only', 'blob-mib', 'pull-mib', 'duration', 'blob-rounds', 'manifest-rounds', 'pull-rounds', 'connections', 'shoal-entry'],
  });
  const value = (flag: string, envName: string): string | undefined => {
    const v = flags.get(flag);
    return typeof v === 'string' ? v : env[envName];
  };
  const number = (flag: string, envName: string, fallback: number): number => {
    const raw = value(flag, envName);
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} must be a positive number, not ${raw}`);
    return n;
  };
  const quick = flags.get('quick') === true || ['1', 'true', 'yes'].includes(env.BENCH_QUICK ?? '');
  const onlyRaw = value('only', 'BENCH_ONLY');
  const only = new Set<Phase>();
  for (const part of (onlyRaw ?? PHASES.join(',')).split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(PHASES as readonly string[]).includes(part)) throw new Error(`--only takes ${PHASES.join(', ')}; not ${part}`);
    only.add(part as Phase);
  }
  const prof = flags.get('cpu-prof') ?? env.BENCH_CPU_PROF;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    quick,
    only,
    blobBytes: number('blob-mib', 'BENCH_BLOB_MIB', quick ? 32 : 512) * MiB,
    pullBytes: number('pull-mib', 'BENCH_PULL_MIB', quick ? 32 : 256) * MiB,
    blobRounds: Math.round(number('blob-rounds', 'BENCH_BLOB_ROUNDS', quick ? 3 : 9)),
    manifestRounds: Math.round(number('manifest-rounds', 'BENCH_MANIFEST_ROUNDS', quick ? 1 : 3)),
    manifestSeconds: number('duration', 'BENCH_DURATION', quick ? 3 : 10),
    warmupSeconds: quick ? 1 : 3,
    connections: Math.round(number('connections', 'BENCH_CONNECTIONS', 64)),
    pullRounds: Math.round(number('pull-rounds', 'BENCH_PULL_ROUNDS', 3)),
    cpuProfDir: prof === undefined || prof === '' || prof === '0' ? undefined : prof === true || prof === '1' ? join(REPO_ROOT, 'bench', 'results', `profiles-${stamp}`) : String(prof),
    strict: flags.get('strict') === true,
    shoalEntry: value('shoal-entry', 'BENCH_SHOAL_ENTRY') || undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Phase 1: local-hit blob GET throughput

interface ServerBlobStats {
  readonly mbPerSec: number[];
  readonly medianMbPerSec: number;
  /** Server CPU (user + system) per GiB served over the timed rounds; undefined without /proc. */
  readonly cpuMsPerGiB: { readonly user: number; readonly system: number; readonly total: number } | undefined;
  /** Server CPU over all timed rounds, ms (resolution: one clock tick, usually 10 ms). */
  readonly cpuMs: number | undefined;
  /** The benchmark client's own CPU per GiB received (undici, this process), user + system. */
  readonly clientCpuMsPerGiB: { readonly user: number; readonly system: number; readonly total: number };
}

interface BlobPhaseResult {
  readonly sizeBytes: number;
  readonly rounds: number;
  readonly shoal: ServerBlobStats;
  readonly registry2: ServerBlobStats;
  /** median(shoal) / median(registry:2): the goal's ratio */
  readonly ratio: number;
  /** median over rounds of shoal / registry:2 within the round (less sensitive to load drifting between rounds) */
  readonly pairedRatio: number;
}

function perGiB(cpu: CpuTimes | undefined, bytes: number): ServerBlobStats['cpuMsPerGiB'] {
  if (!cpu) return undefined;
  const gib = bytes / (1024 * MiB);
  return { user: cpu.userMs / gib, system: cpu.systemMs / gib, total: (cpu.userMs + cpu.systemMs) / gib };
}

function totalMs(cpu: CpuTimes | undefined): number | undefined {
  return cpu ? cpu.userMs + cpu.systemMs : undefined;
}

function addCpu(a: CpuTimes | undefined, b: CpuTimes | undefined): CpuTimes | undefined {
  return a && b ? { userMs: a.userMs + b.userMs, systemMs: a.systemMs + b.systemMs } : undefined;
}

async function blobPhase(options: Options, shoal: RunningServer, registry: RunningServer, blob: BlobFile): Promise<BlobPhaseResult> {
  progress(`phase 1/3: local-hit blob GET, ${blob.size / MiB} MiB, ${options.blobRounds} rounds per server`);
  const agent = benchAgent();
  try {
    const url = (server: RunningServer) => `${server.url}/v2/bench/big/blobs/${blob.digest}`;
    for (const server of [shoal, registry]) {
      const check = await timedGet(url(server), agent, { verifyDigest: blob.digest });
      assertOk(check, blob.size, `${server.label} blob GET`);
      progress(`  warm-up ${server.label}: content verified, ${fmt(check.mbPerSec, 0)} MB/s (hashing on the client)`);
    }
    const results = new Map<RunningServer, number[]>([[shoal, []], [registry, []]]);
    const cpu = new Map<RunningServer, CpuTimes | undefined>([[shoal, { userMs: 0, systemMs: 0 }], [registry, { userMs: 0, systemMs: 0 }]]);
    const clientCpu = new Map<RunningServer, CpuTimes | undefined>([[shoal, { userMs: 0, systemMs: 0 }], [registry, { userMs: 0, systemMs: 0 }]]);
    for (let round = 1; round <= options.blobRounds; round++) {
      const order = round % 2 === 1 ? [shoal, registry] : [registry, shoal];
      const line: string[] = [];
      for (const server of order) {
        const before = cpuTimes(server.pid);
        const clientBefore = process.cpuUsage();
        // curl, not undici, for the timed rounds: see curlGet. (The warm-up above verified the bytes.)
        const got = await curlGet(url(server));
        const clientUsed = process.cpuUsage(clientBefore);
        const used = cpuDelta(before, cpuTimes(server.pid));
        clientCpu.set(server, addCpu(clientCpu.get(server), { userMs: clientUsed.user / 1000, systemMs: clientUsed.system / 1000 }));
        assertOk(got, blob.size, `${server.label} blob GET`);
        results.get(server)!.push(got.mbPerSec);
        cpu.set(server, addCpu(cpu.get(server), used));
        line.push(`${server.label} ${fmt(got.mbPerSec, 0)} MB/s (${fmt(got.totalMs, 0)} ms${used ? `, server CPU ${fmt(used.userMs, 0)}+${fmt(used.systemMs, 0)} ms` : ''})`);
      }
      progress(`  round ${round}/${options.blobRounds}: ${line.join(', ')}`);
    }
    const s = results.get(shoal)!;
    const r = results.get(registry)!;
    const served = blob.size * options.blobRounds;
    return {
      sizeBytes: blob.size,
      rounds: options.blobRounds,
      shoal: { mbPerSec: s, medianMbPerSec: median(s), cpuMsPerGiB: perGiB(cpu.get(shoal), served), cpuMs: totalMs(cpu.get(shoal)), clientCpuMsPerGiB: perGiB(clientCpu.get(shoal), served)! },
      registry2: { mbPerSec: r, medianMbPerSec: median(r), cpuMsPerGiB: perGiB(cpu.get(registry), served), cpuMs: totalMs(cpu.get(registry)), clientCpuMsPerGiB: perGiB(clientCpu.get(registry), served)! },
      ratio: median(s) / median(r),
      pairedRatio: median(s.map((x, i) => x / r[i]!)),
    };
  } finally {
    await agent.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 2: manifest GET by tag, autocannon

interface CannonSummary {
  readonly rps: number;
  readonly total2xx: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly durationS: number;
}

interface ManifestPhaseResult {
  readonly connections: number;
  readonly secondsPerRun: number;
  readonly rounds: number;
  readonly shoal: { readonly runs: CannonSummary[]; readonly medianRps: number };
  readonly registry2: { readonly runs: CannonSummary[]; readonly medianRps: number };
  readonly ratio: number;
}

function summarize(result: AutocannonResult): CannonSummary {
  return {
    rps: result.requests.average,
    total2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    durationS: result.duration,
  };
}

async function manifestPhase(options: Options, shoal: RunningServer, registry: RunningServer, image: PushedImage): Promise<ManifestPhaseResult> {
  progress(`phase 2/3: manifest GET by tag, ${options.connections} connections, ${options.manifestRounds} × ${options.manifestSeconds} s per server`);
  const headers = { accept: OCI_MANIFEST };
  const url = (server: RunningServer) => `${server.url}/v2/${image.name}/manifests/${image.tag}`;
  const agent = benchAgent();
  try {
    for (const server of [shoal, registry]) {
      const got = await timedGet(url(server), agent, { headers });
      assertOk(got, image.manifest.byteLength, `${server.label} manifest GET`);
      if (got.headers['docker-content-digest'] !== image.manifestDigest) throw new Error(`${server.label} manifest GET: Docker-Content-Digest ${String(got.headers['docker-content-digest'])}, expected ${image.manifestDigest}`);
      if (got.headers['content-type'] !== OCI_MANIFEST) throw new Error(`${server.label} manifest GET: Content-Type ${String(got.headers['content-type'])}`);
    }
  } finally {
    await agent.close();
  }
  const cannon = (server: RunningServer, duration: number) =>
    runAutocannon({ url: url(server), connections: options.connections, duration, headers, title: server.label });
  for (const server of [shoal, registry]) {
    const warm = await cannon(server, options.warmupSeconds);
    progress(`  warm-up ${server.label}: ${fmt(warm.requests.average, 0)} req/s`);
  }
  const runs = new Map<RunningServer, CannonSummary[]>([[shoal, []], [registry, []]]);
  for (let round = 1; round <= options.manifestRounds; round++) {
    const order = round % 2 === 1 ? [shoal, registry] : [registry, shoal];
    for (const server of order) {
      const summary = summarize(await cannon(server, options.manifestSeconds));
      runs.get(server)!.push(summary);
      const bad = summary.non2xx + summary.errors + summary.timeouts;
      progress(`  round ${round}/${options.manifestRounds} ${server.label}: ${fmt(summary.rps, 0)} req/s, p50 ${summary.latencyP50Ms} ms, p99 ${summary.latencyP99Ms} ms${bad > 0 ? `, ${summary.non2xx} non-2xx, ${summary.errors} errors, ${summary.timeouts} timeouts` : ''}`);
      if (summary.non2xx > 0 || summary.errors > 0) throw new Error(`${server.label}: ${summary.non2xx} non-2xx answers and ${summary.errors} errors under load`);
    }
  }
  const s = runs.get(shoal)!;
  const r = runs.get(registry)!;
  const sRps = median(s.map((x) => x.rps));
  const rRps = median(r.map((x) => x.rps));
  return {
    connections: options.connections,
    secondsPerRun: options.manifestSeconds,
    rounds: options.manifestRounds,
    shoal: { runs: s, medianRps: sRps },
    registry2: { runs: r, medianRps: rRps },
    ratio: sRps / rRps,
  };
}

// ---------------------------------------------------------------------------------------------

function assertOk(got: TimedGet, size: number, what: string): void {
  if (got.status !== 200) throw new Error(`${what}: status ${got.status}`);
  if (got.bytes !== size) throw new Error(`${what}: ${got.bytes} bytes, expected ${size}`);
}

function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

interface Row {
  readonly metric: string;
  readonly shoal: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly goal: string;
  readonly pass: boolean | undefined;
}

function renderTable(rows: readonly Row[]): string {
  const header = ['metric', 'shoal', 'registry:2 / direct', 'ratio', 'goal', 'result'];
  const cells = rows.map((r) => [r.metric, r.shoal, r.baseline, r.ratio, r.goal, r.pass === undefined ? 'info' : r.pass ? 'PASS' : 'FAIL']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => `| ${c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

function pullRows(p: PullPhaseResult): Row[] {
  const n = p.rounds.length;
  const what = `pull-through ${p.sizeBytes / MiB} MiB cold`;
  const range = (s: PullPhaseResult['shoal']) => `${fmt(s.medianTotalMs, 0)} (${fmt(s.totalMsRange[0], 0)}–${fmt(s.totalMsRange[1], 0)})`;
  const sent = (s: PullPhaseResult['shoal']) => (s.seedSentOverBlob ? `${fmt(s.seedSentOverBlob.median, 2)} (${fmt(s.seedSentOverBlob.min, 2)}–${fmt(s.seedSentOverBlob.max, 2)})` : 'n/a');
  const cpu = (s: PullPhaseResult['shoal']) => (s.cpuSecondsPerGiB ? `${fmt(s.cpuSecondsPerGiB.median, 2)} (${fmt(s.cpuSecondsPerGiB.min, 2)}–${fmt(s.cpuSecondsPerGiB.max, 2)})` : 'n/a');
  const rows: Row[] = [
    {
      metric: `${what}: total time vs registry:2 proxy (ms, median (range) of ${n})`,
      shoal: range(p.shoal),
      baseline: range(p.proxy),
      ratio: `${fmt(p.totalRatioToProxy, 2)}×`,
      goal: '≤ 1.00×',
      pass: p.totalRatioToProxy <= 1,
    },
  ];
  if (p.cpuRatioToProxy !== undefined) {
    rows.push({
      metric: `${what}: server CPU-s per GiB vs registry:2 proxy (median (range))`,
      shoal: cpu(p.shoal),
      baseline: cpu(p.proxy),
      ratio: `${fmt(p.cpuRatioToProxy, 2)}×`,
      goal: '≤ 1.00×',
      pass: p.cpuRatioToProxy <= 1,
    });
  }
  rows.push(
    {
      metric: `${what}: total time vs direct from the seed (ms, median (range))`,
      shoal: range(p.shoal),
      baseline: range(p.direct),
      ratio: `${fmt(p.totalRatio, 2)}×`,
      goal: 'lower is better',
      pass: undefined,
    },
    {
      metric: `${what}: time to first byte vs direct (ms, median)`,
      shoal: fmt(p.shoal.medianTtfbMs, 1),
      baseline: fmt(p.direct.medianTtfbMs, 1),
      ratio: `${fmt(p.ttfbRatio, 2)}×`,
      goal: 'lower is better',
      pass: undefined,
    },
    {
      // registry:2's proxy fetches a blob it does not hold twice: once streamed to the client, once
      // in the background into its store; its client never waits for its disk, its seed sends 2x.
      metric: `${what}: seed bytes sent per pull over the blob, shoal / proxy / direct (median (range))`,
      shoal: sent(p.shoal),
      baseline: `${sent(p.proxy)} / ${sent(p.direct)}`,
      ratio: '',
      goal: 'shoal 1.00',
      pass: p.shoal.seedSentOverBlob === undefined ? undefined : p.shoal.seedSentOverBlob.max < 1.01,
    },
    {
      metric: `${what}: total time vs writing the blob into a new file here (ms, median (range))`,
      shoal: range(p.shoal),
      baseline: range(p.disk),
      ratio: `${fmt(p.shoal.medianTotalMs / p.disk.medianTotalMs, 2)}×`,
      goal: 'lower is better',
      pass: undefined,
    },
    {
      metric: `${what}: throughput, shoal / proxy / direct (MB/s, median)`,
      shoal: fmt(p.shoal.medianMbPerSec, 0),
      baseline: `${fmt(p.proxy.medianMbPerSec, 0)} / ${fmt(p.direct.medianMbPerSec, 0)}`,
      ratio: '',
      goal: 'higher is better',
      pass: undefined,
    },
  );
  return rows;
}

function registryVersion(): string {
  try {
    return execFileSync(REGISTRY2_BINARY, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const startedAt = new Date();
  progress(`shoal vs registry:2 (${registryVersion()}), ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}${options.quick ? ', QUICK mode' : ''}`);
  if (options.shoalEntry) progress(`shoal started from ${options.shoalEntry} instead of bin/shoal.js`);
  else buildDaemon(options.cpuProfDir !== undefined);
  if (options.cpuProfDir) {
    await mkdir(options.cpuProfDir, { recursive: true });
    progress(`shoal children write CPU profiles to ${options.cpuProfDir}`);
  }
  const work = trackTempDir(await mkdtemp(join(tmpdir(), 'shoal-bench-')));
  const results: { blob?: BlobPhaseResult; manifest?: ManifestPhaseResult; pull?: PullPhaseResult } = {};
  const loadBefore = loadavg();
  try {
    // Data
    const files = join(work, 'files');
    await mkdir(files);
    progress('writing random blobs');
    const big = options.only.has('blob') ? await writeRandomFile(join(files, 'big'), options.blobBytes) : undefined;
    const pull = options.only.has('pull') ? await writeRandomFile(join(files, 'pull'), options.pullBytes) : undefined;
    const warm = await writeRandomFile(join(files, 'warm'), 1 * MiB);
    const small = await writeRandomFile(join(files, 'small'), 4 * 1024);

    // Servers: the baseline (also the seed of phase 3) and a standalone shoal.
    progress('starting registry:2 and shoal (standalone)');
    const registry = await startRegistry2({ rootDir: join(work, 'registry2'), configDir: work });
    const shoal = await startShoal({
      dataDir: join(work, 'shoal'),
      label: 'shoal',
      ...(options.shoalEntry ? { entry: options.shoalEntry } : {}),
      ...(options.cpuProfDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir, '--cpu-prof-name', 'shoal-standalone.cpuprofile'] } : {}),
    });
    progress(`  registry:2 ${registry.url} (pid ${registry.pid}), shoal ${shoal.url} (pid ${shoal.pid})`);

    progress('pushing images');
    if (big) {
      const bigImage = await pushImage(shoal.url, 'bench/big', 'latest', [big]);
      const again = await pushImage(registry.url, 'bench/big', 'latest', [big], { monolithicPost: false });
      if (again.manifestDigest !== bigImage.manifestDigest) throw new Error('bench/big manifests differ');
    }
    const appImage = await pushImage(shoal.url, 'bench/app', 'v1', [small]);
    const appOnRegistry = await pushImage(registry.url, 'bench/app', 'v1', [small], { monolithicPost: false });
    if (appOnRegistry.manifestDigest !== appImage.manifestDigest) throw new Error('bench/app manifests differ');
    if (pull) {
      await pushImage(registry.url, 'bench/pull', 'latest', [pull], { monolithicPost: false });
      await pushBlob(registry.url, 'bench/pull', warm.digest, { file: warm }, { monolithicPost: false });
    }
    // Written data reaches the disk now rather than during a timed run.
    try {
      execFileSync('sync');
    } catch {
      // not essential
    }

    if (big && options.only.has('blob')) results.blob = await blobPhase(options, shoal, registry, big);
    if (options.only.has('manifest')) results.manifest = await manifestPhase(options, shoal, registry, appImage);
    if (pull && options.only.has('pull')) results.pull = await pullPhase(options, registry, work, pull, warm);
  } finally {
    progress('stopping servers, removing temp dirs');
    await cleanupAll();
  }

  const rows: Row[] = [];
  if (results.blob) {
    const b = results.blob;
    rows.push({
      metric: `blob GET ${b.sizeBytes / MiB} MiB, local hit (MB/s, median of ${b.rounds})`,
      shoal: fmt(b.shoal.medianMbPerSec, 0),
      baseline: fmt(b.registry2.medianMbPerSec, 0),
      ratio: `${fmt(b.ratio, 2)}×`,
      goal: `≥ ${GOALS.blobThroughputRatio.toFixed(2)}×`,
      pass: b.ratio >= GOALS.blobThroughputRatio,
    });
    rows.push({
      metric: '  same, per-round paired ratio (median of shoal / registry:2)',
      shoal: '',
      baseline: '',
      ratio: `${fmt(b.pairedRatio, 2)}×`,
      goal: '',
      pass: undefined,
    });
    // Only when enough CPU was used for clock-tick resolution not to dominate.
    if (b.shoal.cpuMsPerGiB && b.registry2.cpuMsPerGiB && (b.shoal.cpuMs ?? 0) >= 300 && (b.registry2.cpuMs ?? 0) >= 300) {
      const s = b.shoal.cpuMsPerGiB;
      const r = b.registry2.cpuMsPerGiB;
      rows.push({
        metric: '  server CPU per GiB served, user+sys (ms)',
        shoal: `${fmt(s.user, 0)}+${fmt(s.system, 0)}`,
        baseline: `${fmt(r.user, 0)}+${fmt(r.system, 0)}`,
        ratio: `${fmt(s.total / r.total, 2)}×`,
        goal: 'lower is better',
        pass: undefined,
      });
    }
    rows.push({
      metric: '  bench process CPU per GiB while curl received (ms)',
      shoal: `${fmt(b.shoal.clientCpuMsPerGiB.user, 0)}+${fmt(b.shoal.clientCpuMsPerGiB.system, 0)}`,
      baseline: `${fmt(b.registry2.clientCpuMsPerGiB.user, 0)}+${fmt(b.registry2.clientCpuMsPerGiB.system, 0)}`,
      ratio: '',
      goal: '',
      pass: undefined,
    });
  }
  if (results.manifest) {
    const m = results.manifest;
    rows.push({
      metric: `manifest GET by tag, ${m.connections} conns (req/s, median of ${m.rounds} × ${m.secondsPerRun} s)`,
      shoal: fmt(m.shoal.medianRps, 0),
      baseline: fmt(m.registry2.medianRps, 0),
      ratio: `${fmt(m.ratio, 2)}×`,
      goal: `≥ ${GOALS.manifestRpsRatio.toFixed(2)}×`,
      pass: m.ratio >= GOALS.manifestRpsRatio,
    });
  }
  if (results.pull) rows.push(...pullRows(results.pull));
  const table = renderTable(rows);
  process.stdout.write(`\n${table}\n\n`);

  const report = {
    benchmark: 'registry',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    quick: options.quick,
    options: { ...options, only: [...options.only] },
    environment: {
      node: process.version,
      registry2: registryVersion(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      totalMemBytes: totalmem(),
      loadavgBefore: loadBefore,
      loadavgAfter: loadavg(),
    },
    goals: GOALS,
    results,
    table: rows,
  };
  const dir = join(REPO_ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const file = join(dir, `registry-${stamp}.json`);
  await writeFile(file, json);
  await writeFile(join(dir, 'registry-latest.json'), json);
  progress(`results written to ${file} and registry-latest.json`);
  if (options.cpuProfDir && existsSync(options.cpuProfDir)) progress(`CPU profiles in ${options.cpuProfDir}`);
  const failed = rows.some((r) => r.pass === false);
  return options.strict && failed ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  await cleanupAll();
  process.exitCode = 1;
}
