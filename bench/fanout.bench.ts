// Fan-out: N hosts pull one image at the same moment, through their shoal daemons (the swarm), and
// — in the same run, on the same (fresh) hosts, before any daemon runs — straight from the seed
// registry (the baseline). Every host is a network namespace on a bridged test LAN
// (test/helpers/netns.ts); every host link and the seed's link are shaped with tc (htb) to the same
// rate. Measured:
//   - last-finish time / ideal (ideal = image bytes / link rate), shoal and baseline
//   - seed egress / image bytes, from the seed's access log (blob GETs), shoal and baseline
//   - per-host finish times, bytes from the seed and from peers (daemon /metrics)
//   - time to first byte of a 1-byte range from a peer's data plane vs the seed (curl from another
//     host; idle, and during the fan-out)
//   - announcement propagation: a small image pushed to one host, until each other host's daemon
//     resolves its tag from the swarm (the swarm logs nothing when an announcement arrives, so each
//     host polls its own daemon with bench/lib/fanout-probe.ts)
//   - daemon RSS (VmRSS every 0.5 s, VmHWM), machine CPU split by who used it (this is a shared
//     2-core machine), bytes on every switch port
// Progress on stderr, the tables on stdout, JSON in bench/results/fanout-<time>.json and fanout-latest.json.
//
//   node bench/fanout.bench.ts [--quick] [--hosts N] [--rate-mbit R] [--image-mib M] [--pushes K]
//        [--poll-ms MS] [--ttfb-rounds N] [--no-baseline] [--wait-quiet S] [--work-dir DIR] [--label TEXT]
// --quick: 3 hosts, 32 MiB, 100 Mbit/s, 3 pushes. --wait-quiet S (default 60, 0 = off): before each
// measured phase wait up to S seconds for other processes to use < 0.25 cores. The work dir defaults
// to /dev/shm (one shared disk would otherwise be a bottleneck no real LAN has).
// Needs root, iproute2, curl, skopeo, docker-registry.
import { execFileSync } from 'node:child_process';
import { rmSync, statfsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createTestNetwork, type TestHost, type TestNetwork } from '../test/helpers/netns.ts';
import { MANIFEST_TYPES, makeImage, makeTarLayer, pushImage, randomBytesFrom, writeOciLayout, type TestImage } from '../test/helpers/images.ts';
import { startSeedRegistry } from '../test/helpers/seed-registry.ts';
import {
  FANOUT_PROBE,
  REGISTRY_PORT,
  ROOT,
  blobGets,
  exitOf,
  pullArgs,
  pushArgs,
  sleep,
  spawnSkopeo,
  startDaemon,
  startSeed,
  timedRangeGet,
  type BenchSeed,
  type Daemon,
  type Metrics,
  type SeedRequest,
  type SkopeoRun,
  type TimedRequest,
} from './lib/fanout-cluster.ts';
import { MiB, fmt, mbit, mib, progress, spread, table, type Spread } from './lib/fanout-report.ts';
import { Sampler, cpuCount, type CpuSplit } from './lib/fanout-sampler.ts';
import { uploadShare, uploadShareLine, uploadShareRow } from './lib/upload-share.ts';

const REPO = 'bench/fanout';
const TAG = '1';
/** A 1 MiB image every host pulls before the fan-out: the blob the time-to-first-byte samples read. */
const WARM_REPO = 'bench/warm';
const GOALS = { lastFinishOverIdeal: 1.3, seedEgressOverImage: 1.05, propagationP95Ms: 1000, rssMiB: 150 } as const;
/** Machine CPU busy above this share of all cores during a transfer: the figures are CPU-limited. */
const CPU_BOUND_SHARE = 0.85;
/** ... or all cores saturated for at least this share of the transfer. */
const SATURATED_SHARE_BOUND = 0.3;

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  readonly quick: boolean;
  readonly hosts: number;
  readonly rateMbit: number;
  readonly imageMib: number;
  readonly pushes: number;
  readonly pollMs: number;
  readonly ttfbRounds: number;
  readonly baseline: boolean;
  readonly workDir: string | undefined;
  readonly label: string | undefined;
  /** Before each measured phase, wait up to this long for other users' CPU to drop below QUIET_CORES. */
  readonly waitQuietS: number;
}

/** Other users' CPU (cores) considered quiet enough to start a measured phase. */
const QUIET_CORES = 0.25;

function parseOptions(argv: readonly string[]): Options {
  const flags = new Map<string, string | true>();
  const booleans = new Set(['quick', 'no-baseline']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    if (eq > 0) flags.set(arg.slice(2, eq), arg.slice(eq + 1));
    else if (booleans.has(arg.slice(2))) flags.set(arg.slice(2), true);
    else if (i + 1 < argv.length) flags.set(arg.slice(2), argv[++i]!);
    else throw new Error(`${arg} needs a value`);
  }
  const known = new Set([...booleans, 'hosts', 'rate-mbit', 'image-mib', 'pushes', 'poll-ms', 'ttfb-rounds', 'work-dir', 'label', 'wait-quiet']);
  for (const key of flags.keys()) if (!known.has(key)) throw new Error(`unknown option --${key}`);
  const quick = flags.get('quick') === true;
  const num = (flag: string, fallback: number, integer = false): number => {
    const raw = flags.get(flag);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (raw === true || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${flag} must be a positive ${integer ? 'integer' : 'number'}, not ${String(raw)}`);
    return n;
  };
  const hosts = num('hosts', quick ? 3 : 8, true);
  if (hosts < 2) throw new Error('--hosts must be at least 2');
  const str = (flag: string): string | undefined => {
    const v = flags.get(flag);
    return typeof v === 'string' ? v : undefined;
  };
  return {
    quick,
    hosts,
    rateMbit: num('rate-mbit', quick ? 100 : 200),
    imageMib: num('image-mib', quick ? 32 : 256),
    pushes: num('pushes', quick ? 3 : 6, true),
    pollMs: num('poll-ms', 50),
    ttfbRounds: num('ttfb-rounds', 3, true),
    baseline: flags.get('no-baseline') !== true,
    workDir: str('work-dir'),
    label: str('label'),
    waitQuietS: flags.has('wait-quiet') ? Number(flags.get('wait-quiet')) || 0 : 60,
  };
}

/** Layers 5/8 + 2/8 + 1/8 of the image (160 + 64 + 32 MiB for 256 MiB). */
function layerSizes(imageMib: number): number[] {
  const total = Math.round(imageMib * MiB);
  const a = Math.round((total * 5) / 8);
  const b = Math.round((total * 2) / 8);
  return [a, b, total - a - b];
}

// ---------------------------------------------------------------------------------------------
// Results

interface HostResult {
  readonly host: string;
  readonly address: string;
  readonly finishS: number;
  readonly ok: boolean;
  /** bytes the host's link delivered to it (switch port tx) during the phase */
  readonly downloadBytes: number;
  readonly uploadBytes: number;
  /** the host's average download rate from the start to its finish */
  readonly downloadMbit: number;
  readonly seedBytesLogged: number;
}

interface ShoalHostResult extends HostResult {
  readonly fromSeedBytes: number;
  readonly fromPeersBytes: number;
  readonly servedToPeersBytes: number;
  readonly verificationFailures: number;
  readonly daemonCpuS: number;
  readonly skopeoCpuS: number;
  readonly rssMaxMiB: number;
  readonly rssHwmMiB: number;
  /** daemon RSS once the mesh was up, before any pull */
  readonly idleRssMiB: number;
  /** daemon log lines during the pull that are warnings or worse, or report a failed piece: count by message */
  readonly logEvents: Readonly<Record<string, number>>;
  /** 'blob fetched and verified' lines: fetch duration and when it committed (s since the start) */
  readonly blobs: ReadonlyArray<{ digest: string; bytes: number; ms: number; doneAtS: number }>;
}

interface CpuSummary extends CpuSplit {
  readonly cores: number;
  /** busy cores per sample interval */
  readonly busyP50: number;
  readonly busyMax: number;
  /** share of the sample intervals with ≥ 95% of all cores busy */
  readonly saturatedShare: number;
  readonly bound: boolean;
}

interface PhaseResult {
  readonly wallS: number;
  readonly lastFinishS: number;
  readonly lastFinishOverIdeal: number;
  readonly finish: Spread;
  readonly seedEgressBytes: number;
  readonly seedEgressOverImage: number;
  readonly seedBlobGets: number;
  /** of those, 1-byte GETs (a daemon asking the seed for a blob's size) */
  readonly seedSizeProbes: number;
  /** bytes the seed's link sent (switch port rx), headers included */
  readonly seedWireBytes: number;
  readonly cpu: CpuSummary | undefined;
  /** per sample interval: seconds since the start, each host's download and the seed's upload (Mbit/s), busy cores */
  readonly timeline: ReadonlyArray<{ t: number; down: number[]; seedUp: number; busy: number }>;
}

interface TtfbResult {
  readonly peer: Spread & { readonly connectMedian: number; readonly samples: readonly TimedRequest[] };
  readonly seed: Spread & { readonly connectMedian: number; readonly samples: readonly TimedRequest[] };
}

interface PropagationSample {
  readonly push: number;
  readonly origin: string;
  readonly receiver: string;
  /** ms from the origin's 'manifest pushed' log line to the receiver's first 200 */
  readonly ms: number;
  /** ms from skopeo's exit on the origin to the receiver's first 200 */
  readonly afterSkopeoMs: number;
  readonly polls: number;
}

// ---------------------------------------------------------------------------------------------

const elapsed = (from: number, to = Date.now()): number => (to - from) / 1000;

function cpuSummary(sampler: Sampler, from: number, to: number): CpuSummary | undefined {
  const split = sampler.cpu(from, to);
  if (!split) return undefined;
  const series = sampler.busySeries(from, to);
  const cores = cpuCount();
  const sorted = [...series].sort((a, b) => a - b);
  const saturatedShare = series.length ? series.filter((b) => b >= 0.95 * cores).length / series.length : 0;
  return {
    ...split,
    cores,
    busyP50: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
    busyMax: sorted[sorted.length - 1] ?? Number.NaN,
    saturatedShare,
    bound: split.busy >= CPU_BOUND_SHARE * cores || saturatedShare >= SATURATED_SHARE_BOUND,
  };
}

function describeCpu(c: CpuSummary | undefined): string {
  if (!c) return '–';
  const cls = c.byClass;
  return `${fmt(c.busy, 2)}/${c.cores} cores busy (p50 ${fmt(c.busyP50, 2)}, max ${fmt(c.busyMax, 2)}, saturated ${fmt(c.saturatedShare * 100, 0)}% of the time; softirq ${fmt(c.softirq, 2)}, iowait ${fmt(c.iowait, 2)}, steal ${fmt(c.steal, 2)}); processes: bench namespaces ${fmt(cls['bench-ns'], 2)}, bench driver ${fmt(cls['bench-self'], 2)}, kernel threads ${fmt(cls.kernel, 2)}, other users ${fmt(cls.other, 2)}`;
}

/** Prints a progress line every 2 s until `done()` says all finished. */
function progressLoop(tag: string, t0: number, hosts: readonly TestHost[], seedHost: TestHost, sampler: Sampler, finished: () => number): () => void {
  const timer = setInterval(() => {
    const r = sampler.recent(2_000);
    let rates = '';
    if (r) {
      const s = (r.b.t - r.a.t) / 1000;
      const down = hosts.map((h) => {
        const a = r.a.ports.get(h.switchPort);
        const b = r.b.ports.get(h.switchPort);
        return a && b ? Math.round(((b.tx - a.tx) * 8) / 1e6 / s) : 0;
      });
      const sa = r.a.ports.get(seedHost.switchPort);
      const sb = r.b.ports.get(seedHost.switchPort);
      const seedUp = sa && sb ? Math.round(((sb.rx - sa.rx) * 8) / 1e6 / s) : 0;
      const ticks = r.b.stat.total - r.a.stat.total;
      const busy = ticks > 0 ? ((r.b.stat.busy - r.a.stat.busy) / ticks) * cpuCount() : 0;
      rates = ` | down Mbit/s ${down.join(' ')} | seed up ${seedUp} | cpu ${busy.toFixed(2)}/${cpuCount()}`;
    }
    progress(`[${tag}] t=${elapsed(t0).toFixed(1)}s done ${finished()}/${hosts.length}${rates}`);
  }, 2_000);
  return () => clearInterval(timer);
}

function hostsResult(runs: readonly SkopeoRun[], hosts: readonly TestHost[], t0: number, sampler: Sampler, seedRequests: readonly SeedRequest[]): HostResult[] {
  return runs.map((run, i) => {
    const host = hosts[i]!;
    const finishS = elapsed(t0, run.endedAt);
    const bytes = sampler.portBytes(host.switchPort, t0 - 1_000, run.endedAt + 600);
    return {
      host: host.name,
      address: host.address,
      finishS,
      ok: run.ok,
      downloadBytes: bytes.tx,
      uploadBytes: bytes.rx,
      downloadMbit: (bytes.tx * 8) / 1e6 / finishS,
      seedBytesLogged: blobGets(seedRequests)
        .filter((r) => r.remote === host.address)
        .reduce((s, r) => s + r.bytes, 0),
    };
  });
}

function timeline(sampler: Sampler, hosts: readonly TestHost[], seedHost: TestHost, t0: number, tEnd: number): PhaseResult['timeline'] {
  const w = sampler.window(t0 - 600, tEnd + 600);
  const out: Array<{ t: number; down: number[]; seedUp: number; busy: number }> = [];
  for (let i = 1; i < w.length; i++) {
    const a = w[i - 1]!;
    const b = w[i]!;
    const s = (b.t - a.t) / 1000;
    const rate = (port: string, dir: 'rx' | 'tx'): number => {
      const x = a.ports.get(port);
      const y = b.ports.get(port);
      return x && y ? Math.round(((y[dir] - x[dir]) * 8) / 1e6 / s) : 0;
    };
    const ticks = b.stat.total - a.stat.total;
    out.push({
      t: Math.round(elapsed(t0, b.t) * 100) / 100,
      down: hosts.map((h) => rate(h.switchPort, 'tx')),
      seedUp: rate(seedHost.switchPort, 'rx'),
      busy: ticks > 0 ? Math.round(((b.stat.busy - a.stat.busy) / ticks) * cpuCount() * 100) / 100 : 0,
    });
  }
  return out;
}

function phaseResult(
  runs: readonly SkopeoRun[],
  t0: number,
  tEnd: number,
  imageBytes: number,
  idealS: number,
  seedRequests: readonly SeedRequest[],
  seedWireBytes: number,
  sampler: Sampler,
  hosts: readonly TestHost[],
  seedHost: TestHost,
): PhaseResult {
  const finishes = runs.map((r) => elapsed(t0, r.endedAt));
  const gets = blobGets(seedRequests);
  const egress = gets.reduce((s, r) => s + r.bytes, 0);
  const lastFinishS = Math.max(...finishes);
  return {
    wallS: elapsed(t0, tEnd),
    lastFinishS,
    lastFinishOverIdeal: lastFinishS / idealS,
    finish: spread(finishes),
    seedEgressBytes: egress,
    seedEgressOverImage: egress / imageBytes,
    seedBlobGets: gets.length,
    seedSizeProbes: gets.filter((r) => r.bytes <= 1).length,
    seedWireBytes,
    cpu: cpuSummary(sampler, t0, tEnd),
    timeline: timeline(sampler, hosts, seedHost, t0, tEnd),
  };
}

async function pullAll(
  tag: string,
  hosts: readonly TestHost[],
  source: (host: TestHost) => string,
  outRoot: string,
  timeoutMs: number,
  sampler: Sampler,
  seedHost: TestHost,
): Promise<{ runs: SkopeoRun[]; t0: number; tEnd: number }> {
  await mkdir(outRoot, { recursive: true });
  await sampler.sample();
  let finished = 0;
  const t0 = Date.now();
  const stop = progressLoop(tag, t0, hosts, seedHost, sampler, () => finished);
  const runs = await Promise.all(
    hosts.map((host) =>
      spawnSkopeo(host, pullArgs(source(host), join(outRoot, host.name)), timeoutMs, (pid) => sampler.watch(pid, 'skopeo', host.name)).then((run) => {
        finished++;
        progress(`[${tag}] ${host.name} ${run.ok ? 'finished' : 'FAILED'} at ${elapsed(t0, run.endedAt).toFixed(2)} s`);
        return run;
      }),
    ),
  );
  const tEnd = Date.now();
  stop();
  await sleep(600); // one more sample after the last exit, for the byte counters
  await sampler.sample();
  const failed = runs.filter((r) => !r.ok);
  if (failed.length > 0) throw new Error(`[${tag}] ${failed.length} pull(s) failed:\n${failed.map((r) => `${r.host}: ${r.stderr.trim().slice(-1_500)}`).join('\n')}`);
  return { runs, t0, tEnd };
}

// ---------------------------------------------------------------------------------------------
// Peer and seed time to first byte

function ttfbOf(samples: readonly TimedRequest[]): TtfbResult['peer'] {
  const ok = samples.filter((s) => s.status === 206);
  const connect = spread(ok.map((s) => s.connectMs));
  return { ...spread(ok.map((s) => s.firstByteMs)), connectMedian: connect.median, samples };
}

/** One sample pair: a random byte of the warm layer from a peer's data plane and from the seed, both asked from `from`. */
async function ttfbPair(from: Daemon, to: Daemon, seed: BenchSeed, warm: TestImage, timeoutMs: number): Promise<[TimedRequest, TimedRequest]> {
  const layer = warm.layers[0]!;
  const offset = Math.floor(Math.random() * layer.size);
  const range = `${offset}-${offset}`;
  const peer = await timedRangeGet(from.host, `${to.peerUrl}/blobs/${layer.digest}`, range, timeoutMs);
  const fromSeed = await timedRangeGet(from.host, `${seed.url}/v2/${WARM_REPO}/blobs/${layer.digest}?shoal-bench=ttfb`, range, timeoutMs);
  return [peer, fromSeed];
}

async function idleTtfb(daemons: readonly Daemon[], seed: BenchSeed, warm: TestImage, rounds: number): Promise<TtfbResult> {
  const peer: TimedRequest[] = [];
  const fromSeed: TimedRequest[] = [];
  const n = daemons.length;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) {
      const [p, s] = await ttfbPair(daemons[i]!, daemons[(i + 1 + (r % (n - 1))) % n]!, seed, warm, 10_000);
      peer.push(p);
      fromSeed.push(s);
    }
  }
  return { peer: ttfbOf(peer), seed: ttfbOf(fromSeed) };
}

/** The same samples, back to back (200 ms apart), while the fan-out runs: busy peers, busy links. */
function loadedTtfb(daemons: readonly Daemon[], seed: BenchSeed, warm: TestImage): { stop(): Promise<TtfbResult> } {
  const peer: TimedRequest[] = [];
  const fromSeed: TimedRequest[] = [];
  let running = true;
  const n = daemons.length;
  const loop = (async () => {
    await sleep(500);
    for (let k = 0; running; k++) {
      const [p, s] = await ttfbPair(daemons[k % n]!, daemons[(k + 1 + (Math.floor(k / n) % (n - 1))) % n]!, seed, warm, 10_000);
      if (!running) break;
      peer.push(p);
      fromSeed.push(s);
      await sleep(200);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { peer: ttfbOf(peer), seed: ttfbOf(fromSeed) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Announcement propagation

interface ProbeResult {
  readonly ok: boolean;
  readonly sentAt: number;
  readonly at: number;
  readonly polls: number;
  readonly why?: string;
}

function startProbe(host: TestHost, url: string, pollMs: number, timeoutMs: number, accept: string): { ready: Promise<void>; result: Promise<ProbeResult> } {
  const child = host.spawnNode(FANOUT_PROBE, ['poll', url, String(pollMs), String(timeoutMs), accept], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let markReady: () => void = () => {};
  const ready = new Promise<void>((r) => (markReady = r));
  let result: ProbeResult | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'READY') return markReady();
    try {
      result = JSON.parse(line) as ProbeResult;
    } catch {
      // ignore
    }
  });
  const done = exitOf(child, timeoutMs + 10_000).then(() => {
    markReady();
    return result ?? { ok: false, sentAt: 0, at: 0, polls: 0, why: `probe exited without a result: ${stderr.slice(-500)}` };
  });
  return { ready, result: done };
}

async function propagation(daemons: readonly Daemon[], workDir: string, pushes: number, pollMs: number, sampler: Sampler): Promise<{ samples: PropagationSample[]; failures: string[]; pushMs: number[] }> {
  const samples: PropagationSample[] = [];
  const failures: string[] = [];
  const pushMs: number[] = [];
  const n = daemons.length;
  for (let k = 0; k < pushes; k++) {
    const origin = daemons[k % n]!;
    const repo = `bench/prop${k}`;
    const image = await makeImage({
      layers: [makeTarLayer([{ name: `prop-${k}.bin`, content: randomBytesFrom(`fanout-prop-${k}-${Date.now()}`, 256 * 1024) }], 'oci')],
      seed: `fanout-prop-${k}-${Date.now()}`,
      format: 'oci',
    });
    const layout = join(workDir, `prop-${k}`);
    await writeOciLayout(layout, image, 'x');
    const url = `http://127.0.0.1:${REGISTRY_PORT}/v2/${repo}/manifests/1`;
    const probes = daemons.map((d) => ({ daemon: d, ...startProbe(d.host, url, pollMs, 20_000, MANIFEST_TYPES.oci) }));
    await Promise.all(probes.map((p) => p.ready));
    await sleep(300); // let the probes' start-up CPU burst pass
    const push = await spawnSkopeo(origin.host, pushArgs(layout, `docker://127.0.0.1:${REGISTRY_PORT}/${repo}:1`), 60_000, (pid) => sampler.watch(pid, 'skopeo-push', origin.name));
    const results = await Promise.all(probes.map(async (p) => ({ daemon: p.daemon, result: await p.result })));
    await rm(layout, { recursive: true, force: true });
    if (!push.ok) {
      failures.push(`push ${k} to ${origin.name} failed: ${push.stderr.slice(-500)}`);
      continue;
    }
    pushMs.push(push.endedAt - push.startedAt);
    const pushedLine = origin.logs.find((l) => l.msg === 'manifest pushed' && l.repository === repo);
    const pushedAt = typeof pushedLine?.time === 'number' ? pushedLine.time : undefined;
    if (pushedAt === undefined) failures.push(`push ${k}: no 'manifest pushed' log line on ${origin.name}; using skopeo's exit as the reference`);
    const reference = pushedAt ?? push.endedAt;
    const lines: string[] = [];
    for (const { daemon, result } of results) {
      if (daemon === origin) {
        lines.push(`${daemon.name}(origin) ${result.ok ? `${result.at - reference} ms` : result.why}`);
        continue;
      }
      if (!result.ok) {
        failures.push(`push ${k} from ${origin.name}: ${daemon.name} never resolved ${repo}:1 (${result.why ?? 'no result'})`);
        lines.push(`${daemon.name} FAILED`);
        continue;
      }
      samples.push({ push: k, origin: origin.name, receiver: daemon.name, ms: result.at - reference, afterSkopeoMs: result.at - push.endedAt, polls: result.polls });
      lines.push(`${daemon.name} ${result.at - reference} ms`);
    }
    progress(`[propagation] push ${k + 1}/${pushes} to ${origin.name} (skopeo ${push.endedAt - push.startedAt} ms): ${lines.join(', ')}`);
    await sleep(300);
  }
  return { samples, failures, pushMs };
}

// ---------------------------------------------------------------------------------------------

/** Waits (up to maxS) until processes outside the benchmark use less than QUIET_CORES over 3 s; returns what it saw. */
async function waitQuiet(sampler: Sampler, phase: string, maxS: number): Promise<{ waitedS: number; otherCores: number; quiet: boolean }> {
  const started = Date.now();
  for (;;) {
    await sleep(500);
    const now = Date.now();
    const other = now - started >= 3_000 ? (sampler.cpu(now - 3_000, now)?.byClass.other ?? 0) : Number.NaN;
    if (other < QUIET_CORES) return { waitedS: elapsed(started), otherCores: other, quiet: true };
    if (now - started > maxS * 1000) {
      progress(`[${phase}] other processes still use ${fmt(other)} cores after ${maxS} s; measuring anyway`);
      return { waitedS: elapsed(started), otherCores: other, quiet: false };
    }
    if (Number.isFinite(other) && Math.round(elapsed(started) * 2) % 20 === 0) progress(`[${phase}] waiting for other processes to calm down (${fmt(other)} cores in use by them)`);
  }
}

function workBase(explicit: string | undefined, neededBytes: number): string {
  if (explicit) return explicit;
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.bavail * fs.bsize > neededBytes * 1.5 && totalmem() > neededBytes * 3) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return process.env.TMPDIR ?? '/tmp';
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const sizes = layerSizes(options.imageMib);
  const n = options.hosts;
  // seed copy + generated layers + every host's store and pull output (the baseline's are removed first)
  const needed = options.imageMib * MiB * (2 + 2 * n);
  const base = workBase(options.workDir, needed);
  const workDir = await mkdtemp(join(base, 'shoal-fanout-'));
  const removeWorkDir = (): void => rmSync(workDir, { recursive: true, force: true });
  process.once('exit', removeWorkDir);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: removing namespaces, processes and ${workDir}\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143); // netns.ts's exit hook kills and deletes the namespaces
    });
  }

  let net: TestNetwork | undefined;
  let seed: BenchSeed | undefined;
  let sampler: Sampler | undefined;
  const daemons: Daemon[] = [];
  const notes: string[] = [];
  const quiet: Record<string, { waitedS: number; otherCores: number; quiet: boolean }> = {};
  try {
    progress(`fanout: ${n} hosts, ${options.rateMbit} Mbit/s links, image ${options.imageMib} MiB (layers ${sizes.map((s) => mib(s)).join(' + ')} MiB), work dir ${workDir}`);
    // 1. The seed's data: pushed to a docker-registry on loopback, which then stops.
    const image = await makeImage({ layers: sizes, seed: `fanout-${options.imageMib}`, dir: join(workDir, 'image'), fileThreshold: MiB });
    const warm = await makeImage({ layers: [MiB], seed: 'fanout-warm' });
    const seedData = join(workDir, 'seed-data');
    const loopback = await startSeedRegistry({ dataDir: seedData });
    try {
      await pushImage(loopback.url, REPO, TAG, image);
      await pushImage(loopback.url, WARM_REPO, TAG, warm);
    } finally {
      await loopback.stop();
    }
    await rm(join(workDir, 'image'), { recursive: true, force: true });
    const imageBytes = image.blobs.reduce((s, b) => s + b.size, 0);
    const idealS = (imageBytes * 8) / (options.rateMbit * 1e6);
    progress(`image ${mib(imageBytes, 2)} MiB in the seed; ideal = ${fmt(idealS)} s at ${options.rateMbit} Mbit/s`);

    // 2. The LAN, the seed host, the sampler.
    net = await createTestNetwork({ hosts: n, rateMbit: options.rateMbit, prefix: 'shoalfan' });
    const hosts = [...net.hosts];
    const seedHost = await net.addHost('seed', { rateMbit: options.rateMbit });
    const theNet = net;
    sampler = new Sampler(net.switchNamespace, () => theNet.namespaces());
    sampler.watch(process.pid, 'bench', 'root');
    sampler.start();
    seed = await startSeed(seedHost, seedData, workDir);
    sampler.watch(seed.pid, 'seed', 'seed');
    const pullTimeoutMs = Math.max(120_000, 6 * n * idealS * 1000);

    // 3. Baseline: the same hosts, no daemons, skopeo straight from the seed.
    let baseline: { phase: PhaseResult; hosts: HostResult[] } | undefined;
    if (options.baseline) {
      quiet.baseline = await waitQuiet(sampler, 'baseline', options.waitQuietS);
      progress(`[baseline] ${n} hosts pull ${REPO}:${TAG} straight from the seed`);
      const m0 = await seed.mark();
      const { runs, t0, tEnd } = await pullAll('baseline', hosts, () => `docker://${seedHost.address}:${REGISTRY_PORT}/${REPO}:${TAG}`, join(workDir, 'baseline-out'), pullTimeoutMs, sampler, seedHost);
      const requests = seed.between(m0, await seed.mark());
      const seedWire = sampler.portBytes(seedHost.switchPort, t0 - 1_000, tEnd + 600).rx;
      baseline = { phase: phaseResult(runs, t0, tEnd, imageBytes, idealS, requests, seedWire, sampler, hosts, seedHost), hosts: hostsResult(runs, hosts, t0, sampler, requests) };
      await rm(join(workDir, 'baseline-out'), { recursive: true, force: true });
      progress(`[baseline] last finish ${fmt(baseline.phase.lastFinishS)} s = ${fmt(baseline.phase.lastFinishOverIdeal)} × ideal; seed sent ${fmt(baseline.phase.seedEgressOverImage)} × the image; ${describeCpu(baseline.phase.cpu)}`);
      await sleep(1_000);
    }

    // 4. The swarm: one daemon per host, full mesh, then everyone pulls through its daemon.
    progress(`[shoal] starting ${n} daemons`);
    const tDaemons = Date.now();
    daemons.push(...(await Promise.all(hosts.map((host) => startDaemon(host, { dataDir: join(workDir, 'nodes', host.name), upstream: seed!.url, logLevel: 'info' })))));
    for (const d of daemons) sampler.watch(d.pid, 'shoal', d.name);
    await Promise.all(daemons.map((d) => d.waitForPeers(n - 1, 30_000)));
    progress(`[shoal] full mesh (${n - 1} peers each) ${elapsed(tDaemons).toFixed(1)} s after start`);
    const idleMetrics = await Promise.all(daemons.map((d) => d.metrics()));
    const idleRss = idleMetrics.map((m) => m.rssBytes / MiB);
    // Every host pulls a 1 MiB image first: the blob the first-byte samples read during the fan-out.
    await mkdir(join(workDir, 'warm-out'), { recursive: true });
    const warmRuns = await Promise.all(
      hosts.map((host) => spawnSkopeo(host, pullArgs(`docker://127.0.0.1:${REGISTRY_PORT}/${WARM_REPO}:${TAG}`, join(workDir, 'warm-out', host.name)), 60_000)),
    );
    const warmFailed = warmRuns.find((r) => !r.ok);
    if (warmFailed) throw new Error(`warm-up pull failed on ${warmFailed.host}: ${warmFailed.stderr}`);
    await rm(join(workDir, 'warm-out'), { recursive: true, force: true });
    progress(`[shoal] warm-up image pulled on every host; idle daemon RSS ${idleRss.map((r) => fmt(r, 0)).join(' ')} MiB`);
    await sleep(1_000);
    quiet.shoal = await waitQuiet(sampler, 'shoal', options.waitQuietS);
    const before = await Promise.all(daemons.map((d) => d.metrics()));
    const m2 = await seed.mark();
    const loaded = loadedTtfb(daemons, seed, warm);
    const { runs, t0, tEnd } = await pullAll('shoal', hosts, () => `docker://127.0.0.1:${REGISTRY_PORT}/${REPO}:${TAG}`, join(workDir, 'shoal-out'), pullTimeoutMs, sampler, seedHost);
    const loadedTtfbResult = await loaded.stop();
    const after = await Promise.all(daemons.map((d) => d.metrics()));
    const requests = seed.between(m2, await seed.mark());
    const seedWire = sampler.portBytes(seedHost.switchPort, t0 - 1_000, tEnd + 600).rx;
    const shoalPhase = phaseResult(runs, t0, tEnd, imageBytes, idealS, requests, seedWire, sampler, hosts, seedHost);
    const basic = hostsResult(runs, hosts, t0, sampler, requests);
    const seedPerBlob = image.blobs.map((blob) => {
      const gets = blobGets(requests).filter((r) => r.digest === blob.digest);
      return { digest: blob.digest, size: blob.size, seedBytes: gets.reduce((sum, r) => sum + r.bytes, 0), gets: gets.length };
    });
    const delta = (i: number, key: keyof Metrics): number => after[i]![key] - before[i]![key];
    const digests = new Set(image.blobs.map((b) => b.digest));
    const shoalHosts: ShoalHostResult[] = basic.map((h, i) => {
      const d = daemons[i]!;
      const run = runs[i]!;
      return {
        ...h,
        fromSeedBytes: delta(i, 'seedBytes'),
        fromPeersBytes: delta(i, 'peerReceivedBytes'),
        servedToPeersBytes: delta(i, 'peerServedBytes'),
        verificationFailures: delta(i, 'verificationFailures'),
        daemonCpuS: sampler!.cpuSecondsOf(d.pid, t0 - 1_000, tEnd + 600),
        skopeoCpuS: sampler!.cpuSecondsOf(run.pid, t0 - 1_000, tEnd + 600),
        rssMaxMiB: 0,
        rssHwmMiB: 0,
        idleRssMiB: idleRss[i]!,
        logEvents: d.logs
          .filter((l) => typeof l.time === 'number' && l.time >= t0 && l.time <= tEnd + 1_000 && (Number(l.level) >= 40 || l.msg === 'peer failed a piece; it resumes from another source'))
          .reduce<Record<string, number>>((acc, l) => ((acc[String(l.msg)] = (acc[String(l.msg)] ?? 0) + 1), acc), {}),
        blobs: d.logs
          .filter((l) => l.msg === 'blob fetched and verified' && digests.has(String(l.digest)) && typeof l.time === 'number' && l.time >= t0)
          .map((l) => ({ digest: String(l.digest), bytes: Number(l.bytes), ms: Number(l.ms), doneAtS: Math.round(elapsed(t0, Number(l.time)) * 1000) / 1000 })),
      };
    });
    await rm(join(workDir, 'shoal-out'), { recursive: true, force: true });
    progress(`[shoal] last finish ${fmt(shoalPhase.lastFinishS)} s = ${fmt(shoalPhase.lastFinishOverIdeal)} × ideal; seed sent ${fmt(shoalPhase.seedEgressOverImage)} × the image; ${describeCpu(shoalPhase.cpu)}`);

    // 5. Time to first byte, idle swarm.
    progress(`[ttfb] ${options.ttfbRounds * n} samples each against peers and the seed (idle)`);
    const idleTtfbResult = await idleTtfb(daemons, seed, warm, options.ttfbRounds);

    // 6. Announcement propagation.
    quiet.propagation = await waitQuiet(sampler, 'propagation', options.waitQuietS);
    progress(`[propagation] ${options.pushes} pushes of a small image, every host polling its daemon every ${options.pollMs} ms`);
    const tProp = Date.now();
    const prop = await propagation(daemons, workDir, options.pushes, options.pollMs, sampler);
    const propCpu = cpuSummary(sampler, tProp, Date.now());
    notes.push(...prop.failures);

    // 7. Memory, then stop everything.
    await sampler.sample();
    await sampler.stop();
    const finalMetrics = await Promise.all(daemons.map((d) => d.metrics().catch(() => undefined)));
    const memory = daemons.map((d, i) => {
      const m = sampler!.memoryOf(d.pid);
      const heap = (x: Metrics | undefined) => x && { rssMiB: x.rssBytes / MiB, heapUsedMiB: x.heapUsedBytes / MiB, heapTotalMiB: x.heapTotalBytes / MiB, externalMiB: x.externalBytes / MiB };
      return {
        host: d.name,
        rssMaxMiB: Math.max(m.maxRss, finalMetrics[i]?.rssBytes ?? 0) / MiB,
        rssHwmMiB: m.hwm / MiB,
        /** /proc/<pid>/status split of the largest sampled RSS */
        atMaxMiB: m.atMax && { anon: m.atMax.anon / MiB, file: m.atMax.file / MiB, shmem: m.atMax.shmem / MiB },
        idle: heap(idleMetrics[i]),
        end: heap(finalMetrics[i]),
      };
    });
    const hostsWithMemory = shoalHosts.map((h, i) => ({ ...h, rssMaxMiB: memory[i]!.rssMaxMiB, rssHwmMiB: memory[i]!.rssHwmMiB }));

    // ------------------------------------------------------------------------------------------
    // Report
    const cpuWork = {
      daemonsS: hostsWithMemory.reduce((sum, h) => sum + h.daemonCpuS, 0),
      skopeoS: hostsWithMemory.reduce((sum, h) => sum + h.skopeoCpuS, 0),
      benchNamespacesS: (shoalPhase.cpu?.byClass['bench-ns'] ?? 0) * shoalPhase.wallS,
    };
    /** The shortest time this machine could have moved the pull's CPU work with every core on it. */
    const cpuFloorS = cpuWork.benchNamespacesS / cpuCount();
    const propMs = prop.samples.map((s) => s.ms);
    const propSpread = spread(propMs);
    const propAfterSkopeo = spread(prop.samples.map((s) => s.afterSkopeoMs));
    const rssMax = Math.max(...memory.map((m) => Math.max(m.rssMaxMiB, m.rssHwmMiB)));
    const fromSeedPerHost = spread(hostsWithMemory.map((h) => h.fromSeedBytes / MiB));
    const fromPeersPerHost = spread(hostsWithMemory.map((h) => h.fromPeersBytes / MiB));
    const cpuBound = shoalPhase.cpu?.bound === true;
    const linkBound = hostsWithMemory.map((h) => h.downloadMbit / options.rateMbit);
    const shares = uploadShare(hostsWithMemory);

    const verdict: string[] = [];
    if (shoalPhase.cpu) {
      verdict.push(
        cpuBound
          ? `CPU-limited: the machine was ${fmt((shoalPhase.cpu.busy / shoalPhase.cpu.cores) * 100, 0)}% busy on average and saturated ${fmt(shoalPhase.cpu.saturatedShare * 100, 0)}% of the time (${fmt(shoalPhase.cpu.busy)} of ${shoalPhase.cpu.cores} cores: the benchmark's processes ${fmt(shoalPhase.cpu.byClass['bench-ns'] + shoalPhase.cpu.byClass['bench-self'])}, other users ${fmt(shoalPhase.cpu.byClass.other)}, softirq ${fmt(shoalPhase.cpu.softirq)}) during the shoal fan-out; hosts' download links averaged ${fmt(spread(linkBound).median * 100, 0)}% of ${options.rateMbit} Mbit/s (median host). Figures for time are upper bounds set by this machine, not by the design; rerun with fewer --hosts or a lower --rate-mbit.`
          : `not CPU-limited: the machine was ${fmt((shoalPhase.cpu.busy / shoalPhase.cpu.cores) * 100, 0)}% busy on average and saturated ${fmt(shoalPhase.cpu.saturatedShare * 100, 0)}% of the time during the shoal fan-out; hosts' download links averaged ${fmt(spread(linkBound).median * 100, 0)}% of ${options.rateMbit} Mbit/s (median host).`,
      );
    }
    for (const [name, phase] of [['shoal fan-out', shoalPhase], ['baseline', baseline?.phase]] as const) {
      const other = phase?.cpu?.byClass.other ?? 0;
      if (other > 0.2) verdict.push(`other processes on this machine (not the benchmark's) used ${fmt(other)} cores on average during the ${name}: a concurrent load skews its times.`);
    }

    const out: string[] = [];
    out.push('');
    out.push(`shoal fan-out: ${n} hosts, links ${options.rateMbit} Mbit/s (hosts and seed, htb), image ${mib(imageBytes, 1)} MiB (${image.layers.length} layers + config), ideal ${fmt(idealS)} s, ${cpus().length} CPUs, work dir on ${base}${options.label ? `, ${options.label}` : ''}`);
    out.push('');
    const b = baseline?.phase;
    out.push(
      table([
        ['', 'shoal swarm', 'baseline (seed only)', 'goal'],
        ['last finish / ideal', fmt(shoalPhase.lastFinishOverIdeal), fmt(b?.lastFinishOverIdeal), `≤ ${GOALS.lastFinishOverIdeal}`],
        ['last finish (s)', fmt(shoalPhase.lastFinishS), fmt(b?.lastFinishS), `≤ ${fmt(idealS * GOALS.lastFinishOverIdeal)}`],
        ['finish min / median / max (s)', `${fmt(shoalPhase.finish.min)} / ${fmt(shoalPhase.finish.median)} / ${fmt(shoalPhase.finish.max)}`, b ? `${fmt(b.finish.min)} / ${fmt(b.finish.median)} / ${fmt(b.finish.max)}` : '–', ''],
        ['seed egress / image (access log)', fmt(shoalPhase.seedEgressOverImage, 3), fmt(b?.seedEgressOverImage, 3), `≤ ${GOALS.seedEgressOverImage}`],
        ['seed egress (MiB, blob GETs)', mib(shoalPhase.seedEgressBytes), b ? mib(b.seedEgressBytes) : '–', ''],
        ['seed link sent (MiB, wire)', mib(shoalPhase.seedWireBytes), b ? mib(b.seedWireBytes) : '–', ''],
        ['seed blob GETs (of which 1-byte size probes)', `${shoalPhase.seedBlobGets} (${shoalPhase.seedSizeProbes})`, b ? `${b.seedBlobGets} (${b.seedSizeProbes})` : '–', ''],
        ['CPU busy (cores, avg / max)', `${fmt(shoalPhase.cpu?.busy)} / ${fmt(shoalPhase.cpu?.busyMax)}`, b ? `${fmt(b.cpu?.busy)} / ${fmt(b.cpu?.busyMax)}` : '–', `of ${cpuCount()}`],
        ['daemon RSS max (MiB; idle median)', `${fmt(rssMax, 1)} (${fmt(spread(hostsWithMemory.map((h) => h.idleRssMiB)).median, 1)})`, '', `≤ ${GOALS.rssMiB}`],
        ['announcement propagation p95 (ms)', fmt(propSpread.p95, 0), '', `≤ ${GOALS.propagationP95Ms}`],
        uploadShareRow(shares),
      ]),
    );
    out.push('');
    out.push('Per host (shoal run):');
    out.push(
      table([
        ['host', 'finish s', 'down Mbit/s', 'from seed MiB', 'from peers MiB', 'served MiB', 'daemon CPU s', 'skopeo CPU s', 'RSS idle MiB', 'RSS max MiB', 'VmHWM MiB', ...(baseline ? ['baseline finish s'] : [])],
        ...hostsWithMemory.map((h, i) => [
          h.host,
          fmt(h.finishS),
          fmt(h.downloadMbit, 0),
          mib(h.fromSeedBytes),
          mib(h.fromPeersBytes),
          mib(h.servedToPeersBytes),
          fmt(h.daemonCpuS, 1),
          fmt(h.skopeoCpuS, 1),
          fmt(h.idleRssMiB, 1),
          fmt(h.rssMaxMiB, 1),
          fmt(h.rssHwmMiB, 1),
          ...(baseline ? [fmt(baseline.hosts[i]!.finishS)] : []),
        ]),
      ]),
    );
    const events = new Map<string, number>();
    for (const h of hostsWithMemory) for (const [msg, count] of Object.entries(h.logEvents)) events.set(msg, (events.get(msg) ?? 0) + count);
    const duplicated = seedPerBlob.filter((b) => b.seedBytes > b.size * 1.01 + 1024); // 1-byte size probes aside
    out.push(
      `daemon warnings/failed pieces during the pull: ${events.size ? [...events].map(([m, c]) => `${c}× "${m}"`).join(', ') : 'none'}; blobs the seed sent more than once: ${duplicated.length ? duplicated.map((b) => `${mib(b.size)} MiB layer ${fmt(b.seedBytes / b.size, 2)}×`).join(', ') : 'none'}`,
    );
    out.push(uploadShareLine(shares));
    out.push(`from seed per host (MiB): min ${fmt(fromSeedPerHost.min, 1)} / median ${fmt(fromSeedPerHost.median, 1)} / max ${fmt(fromSeedPerHost.max, 1)}; from peers: min ${fmt(fromPeersPerHost.min, 1)} / median ${fmt(fromPeersPerHost.median, 1)} / max ${fmt(fromPeersPerHost.max, 1)}`);
    out.push('');
    out.push('Time to first byte (curl -r <one random byte> of a 1 MiB blob every host holds, from another host; new connection each; ms):');
    const ttfbRow = (label: string, r: TtfbResult['peer']): string[] => [label, String(r.n), fmt(r.median, 1), fmt(r.p95, 1), fmt(r.max, 1), fmt(r.connectMedian, 1)];
    out.push(
      table([
        ['', 'n', 'median', 'p95', 'max', 'connect median'],
        ttfbRow('peer data plane, idle', idleTtfbResult.peer),
        ttfbRow('seed registry, idle', idleTtfbResult.seed),
        ttfbRow('peer data plane, during fan-out', loadedTtfbResult.peer),
        ttfbRow('seed registry, during fan-out', loadedTtfbResult.seed),
      ]),
    );
    out.push('');
    out.push(
      `Announcement propagation (${prop.samples.length} receiver samples from ${options.pushes} pushes; first 200 of HEAD /v2/<repo>/manifests/<tag> polled every ${options.pollMs} ms on each other host's daemon, from the origin's 'manifest pushed' log time): median ${fmt(propSpread.median, 0)} ms, p95 ${fmt(propSpread.p95, 0)} ms, max ${fmt(propSpread.max, 0)} ms; from skopeo's exit: median ${fmt(propAfterSkopeo.median, 0)} ms, p95 ${fmt(propAfterSkopeo.p95, 0)} ms`,
    );
    out.push('');
    out.push(`CPU, baseline: ${describeCpu(b?.cpu)}`);
    out.push(`CPU, shoal:    ${describeCpu(shoalPhase.cpu)}`);
    out.push(`CPU, propagation phase: ${describeCpu(propCpu)}`);
    out.push(
      `CPU work of the shoal fan-out: ${fmt(cpuWork.benchNamespacesS, 1)} CPU-s in the benchmark's namespaces (daemons ${fmt(cpuWork.daemonsS, 1)}, skopeo ${fmt(cpuWork.skopeoS, 1)}); on ${cpuCount()} cores that alone takes ≥ ${fmt(cpuFloorS, 1)} s, vs the ideal ${fmt(idealS, 1)} s and the measured ${fmt(shoalPhase.lastFinishS, 1)} s`,
    );
    const worst = [...memory].sort((x, y) => y.rssMaxMiB - x.rssMaxMiB)[0];
    if (worst) {
      out.push(
        `Memory, largest daemon (${worst.host}): RSS max ${fmt(worst.rssMaxMiB, 1)} MiB (anon ${fmt(worst.atMaxMiB?.anon, 1)}, file ${fmt(worst.atMaxMiB?.file, 1)}, shmem ${fmt(worst.atMaxMiB?.shmem, 1)}); idle: RSS ${fmt(worst.idle?.rssMiB, 1)}, V8 heap used/total ${fmt(worst.idle?.heapUsedMiB, 1)}/${fmt(worst.idle?.heapTotalMiB, 1)}, external ${fmt(worst.idle?.externalMiB, 1)}; at the end: RSS ${fmt(worst.end?.rssMiB, 1)}, heap ${fmt(worst.end?.heapUsedMiB, 1)}/${fmt(worst.end?.heapTotalMiB, 1)}, external ${fmt(worst.end?.externalMiB, 1)} MiB`,
      );
    }
    out.push(...verdict.map((v) => `=> ${v}`));
    for (const note of notes) out.push(`note: ${note}`);
    process.stdout.write(`${out.join('\n')}\n`);

    const result = {
      benchmark: 'fanout',
      time: new Date().toISOString(),
      commit: gitCommit(),
      options,
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryMiB: Math.round(totalmem() / MiB), kernel: release(), node: process.version, workDirBase: base },
      image: { repo: `${REPO}:${TAG}`, bytes: imageBytes, layers: image.layers.map((l) => ({ digest: l.digest, size: l.size })), config: image.config.digest },
      idealS,
      goals: GOALS,
      baseline: baseline ?? null,
      shoal: { ...shoalPhase, hosts: hostsWithMemory, fromSeedPerHostMiB: fromSeedPerHost, fromPeersPerHostMiB: fromPeersPerHost, uploadShare: shares, rssMaxMiB: rssMax, seedPerBlob, cpuWork, cpuFloorS, memory },
      ttfb: { idle: stripSamples(idleTtfbResult), duringFanout: stripSamples(loadedTtfbResult) },
      propagation: {
        method: `every host runs bench/lib/fanout-probe.ts, HEADing its own daemon's /v2/<repo>/manifests/1 every ${options.pollMs} ms; the origin's daemon logs 'manifest pushed' (epoch ms) after storing and tagging the pushed manifest, which is when the tag announcement is broadcast; a receiver's sample is the arrival time of its first 200 (the tag announcement arrived, and the manifest was fetched from the origin) minus that log time. The swarm logs nothing when it receives a have/tag announcement, at any log level.`,
        ...propSpread,
        afterSkopeoExit: propAfterSkopeo,
        pushMs: prop.pushMs,
        samples: prop.samples,
        cpu: propCpu ?? null,
      },
      cpuBound,
      waitForQuiet: quiet,
      verdict,
      notes,
    };
    const dir = join(ROOT, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = join(dir, `fanout-${stamp}.json`);
    const json = `${JSON.stringify(result, null, 2)}\n`;
    await writeFile(file, json);
    await writeFile(join(dir, 'fanout-latest.json'), json);
    process.stdout.write(`\nJSON: ${file}\n      ${join(dir, 'fanout-latest.json')}\n`);
  } catch (error) {
    for (const d of daemons) process.stderr.write(`${d.logTail(15)}\n`);
    throw error;
  } finally {
    await sampler?.stop();
    await Promise.allSettled(daemons.map((d) => d.stop()));
    await seed?.stop().catch(() => undefined);
    await net?.destroy().catch((e: unknown) => process.stderr.write(`cleanup: ${String(e)}\n`));
    removeWorkDir();
    progress('cleaned up: namespaces, processes, work dir');
  }
}

function stripSamples(r: TtfbResult): object {
  const strip = (s: TtfbResult['peer']) => ({ n: s.n, min: s.min, median: s.median, p95: s.p95, max: s.max, connectMedian: s.connectMedian, failed: s.samples.filter((x) => x.status !== 206).length, firstByteMs: s.samples.filter((x) => x.status === 206).map((x) => Math.round(x.firstByteMs * 10) / 10) });
  return { peer: strip(r.peer), seed: strip(r.seed) };
}

main().catch((error: unknown) => {
  process.stderr.write(`fanout benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
