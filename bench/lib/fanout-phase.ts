// One measured fan-out phase: every host pulls the image at the same moment (straight from the
// seed for the baseline, through its daemon for shoal), while the sampler records links and CPU.
// What it yields: finish times, seed egress (access log) and wire bytes, CPU split, timeline.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterSeed, LoggedSeedRequest } from '../../test/helpers/cluster.ts';
import { sleep } from '../../test/helpers/cluster/constants.ts';
import { pullArgs, spawnSkopeo, type SkopeoRun } from '../../test/helpers/cluster/host-client.ts';
import { selectBlobGets, sumBytes } from '../../test/helpers/cluster/seed-host.ts';
import type { TestHost } from '../../test/helpers/netns.ts';
import { fmt, progress, spread, type Spread } from './fanout-report.ts';
import { cpuCount, type CpuSplit, type Sample, type Sampler } from './fanout-sampler.ts';

/** Machine CPU busy above this share of all cores during a transfer: the figures are CPU-limited. */
const CPU_BOUND_SHARE = 0.85;
/** ... or all cores saturated for at least this share of the transfer. */
const SATURATED_SHARE_BOUND = 0.3;
/** Other users' CPU (cores) considered quiet enough to start a measured phase. */
const QUIET_CORES = 0.25;

/** The benchmark's LAN as a phase sees it: the pulling hosts, the seed's host, the sampler. */
export interface Lan {
  readonly hosts: readonly TestHost[];
  readonly seedHost: TestHost;
  readonly sampler: Sampler;
}

export interface HostResult {
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

export interface CpuSummary extends CpuSplit {
  readonly cores: number;
  /** busy cores per sample interval */
  readonly busyP50: number;
  readonly busyMax: number;
  /** share of the sample intervals with ≥ 95% of all cores busy */
  readonly saturatedShare: number;
  readonly bound: boolean;
}

export interface PhaseResult {
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

export interface FanOut {
  readonly runs: readonly SkopeoRun[];
  /** Epoch ms of the start and of the last exit. */
  readonly t0: number;
  readonly tEnd: number;
  /** The seed's access log during the phase. */
  readonly requests: readonly LoggedSeedRequest[];
  readonly phase: PhaseResult;
  readonly hosts: HostResult[];
}

export const elapsed = (from: number, to = Date.now()): number => (to - from) / 1000;

export function cpuSummary(sampler: Sampler, from: number, to: number): CpuSummary | undefined {
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

export function describeCpu(c: CpuSummary | undefined): string {
  if (!c) return '–';
  const cls = c.byClass;
  return `${fmt(c.busy, 2)}/${c.cores} cores busy (p50 ${fmt(c.busyP50, 2)}, max ${fmt(c.busyMax, 2)}, saturated ${fmt(c.saturatedShare * 100, 0)}% of the time; softirq ${fmt(c.softirq, 2)}, iowait ${fmt(c.iowait, 2)}, steal ${fmt(c.steal, 2)}); processes: bench namespaces ${fmt(cls['bench-ns'], 2)}, bench driver ${fmt(cls['bench-self'], 2)}, kernel threads ${fmt(cls.kernel, 2)}, other users ${fmt(cls.other, 2)}`;
}

/** Mbit/s through a switch port between two samples (tx: to the host, rx: from it). */
function portRate(a: Sample, b: Sample, seconds: number, port: string, dir: 'rx' | 'tx'): number {
  const x = a.ports.get(port);
  const y = b.ports.get(port);
  return x && y ? Math.round(((y[dir] - x[dir]) * 8) / 1e6 / seconds) : 0;
}

/** Prints a progress line every 2 s; returns the function that stops it. */
function progressLoop(tag: string, t0: number, lan: Lan, finished: () => number): () => void {
  const timer = setInterval(() => {
    const r = lan.sampler.recent(2_000);
    let rates = '';
    if (r) {
      const s = (r.b.t - r.a.t) / 1000;
      const down = lan.hosts.map((h) => portRate(r.a, r.b, s, h.switchPort, 'tx'));
      const seedUp = portRate(r.a, r.b, s, lan.seedHost.switchPort, 'rx');
      const ticks = r.b.stat.total - r.a.stat.total;
      const busy = ticks > 0 ? ((r.b.stat.busy - r.a.stat.busy) / ticks) * cpuCount() : 0;
      rates = ` | down Mbit/s ${down.join(' ')} | seed up ${seedUp} | cpu ${busy.toFixed(2)}/${cpuCount()}`;
    }
    progress(`[${tag}] t=${elapsed(t0).toFixed(1)}s done ${finished()}/${lan.hosts.length}${rates}`);
  }, 2_000);
  return () => clearInterval(timer);
}

function hostsResult(lan: Lan, runs: readonly SkopeoRun[], t0: number, seedRequests: readonly LoggedSeedRequest[]): HostResult[] {
  return runs.map((run, i) => {
    const host = lan.hosts[i]!;
    const finishS = elapsed(t0, run.endedAt);
    const bytes = lan.sampler.portBytes(host.switchPort, t0 - 1_000, run.endedAt + 600);
    return {
      host: host.name,
      address: host.address,
      finishS,
      ok: run.ok,
      downloadBytes: bytes.tx,
      uploadBytes: bytes.rx,
      downloadMbit: (bytes.tx * 8) / 1e6 / finishS,
      seedBytesLogged: sumBytes(selectBlobGets(seedRequests, { from: host.address })),
    };
  });
}

function timeline(lan: Lan, t0: number, tEnd: number): PhaseResult['timeline'] {
  const w = lan.sampler.window(t0 - 600, tEnd + 600);
  const out: Array<{ t: number; down: number[]; seedUp: number; busy: number }> = [];
  for (let i = 1; i < w.length; i++) {
    const a = w[i - 1]!;
    const b = w[i]!;
    const s = (b.t - a.t) / 1000;
    const ticks = b.stat.total - a.stat.total;
    out.push({
      t: Math.round(elapsed(t0, b.t) * 100) / 100,
      down: lan.hosts.map((h) => portRate(a, b, s, h.switchPort, 'tx')),
      seedUp: portRate(a, b, s, lan.seedHost.switchPort, 'rx'),
      busy: ticks > 0 ? Math.round(((b.stat.busy - a.stat.busy) / ticks) * cpuCount() * 100) / 100 : 0,
    });
  }
  return out;
}

function phaseResult(lan: Lan, runs: readonly SkopeoRun[], t0: number, tEnd: number, imageBytes: number, idealS: number, seedRequests: readonly LoggedSeedRequest[]): PhaseResult {
  const finishes = runs.map((r) => elapsed(t0, r.endedAt));
  const gets = selectBlobGets(seedRequests);
  const egress = sumBytes(gets);
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
    seedWireBytes: lan.sampler.portBytes(lan.seedHost.switchPort, t0 - 1_000, tEnd + 600).rx,
    cpu: cpuSummary(lan.sampler, t0, tEnd),
    timeline: timeline(lan, t0, tEnd),
  };
}

/** Every host runs `skopeo copy <source(host)>` at once; throws if any pull fails. */
async function pullAll(lan: Lan, tag: string, source: (host: TestHost) => string, outRoot: string, timeoutMs: number): Promise<{ runs: SkopeoRun[]; t0: number; tEnd: number }> {
  await mkdir(outRoot, { recursive: true });
  await lan.sampler.sample();
  let finished = 0;
  const t0 = Date.now();
  const stop = progressLoop(tag, t0, lan, () => finished);
  const runs = await Promise.all(
    lan.hosts.map((host) =>
      spawnSkopeo(host, pullArgs(source(host), join(outRoot, host.name)), timeoutMs, (pid) => lan.sampler.watch(pid, 'skopeo', host.name)).then((run) => {
        finished++;
        progress(`[${tag}] ${host.name} ${run.ok ? 'finished' : 'FAILED'} at ${elapsed(t0, run.endedAt).toFixed(2)} s`);
        return run;
      }),
    ),
  );
  const tEnd = Date.now();
  stop();
  await sleep(600); // one more sample after the last exit, for the byte counters
  await lan.sampler.sample();
  const failed = runs.filter((r) => !r.ok);
  if (failed.length > 0) throw new Error(`[${tag}] ${failed.length} pull(s) failed:\n${failed.map((r) => `${r.host}: ${r.stderr.trim().slice(-1_500)}`).join('\n')}`);
  return { runs, t0, tEnd };
}

export interface FanOutOptions {
  readonly tag: string;
  readonly source: (host: TestHost) => string;
  /** Where the pulled layouts go (removed afterwards). */
  readonly outDir: string;
  readonly timeoutMs: number;
  readonly imageBytes: number;
  readonly idealS: number;
}

/** One measured fan-out: the seed's log is marked around the pulls, the pulled layouts removed after. */
export async function fanOut(lan: Lan, seed: ClusterSeed, options: FanOutOptions): Promise<FanOut> {
  const from = await seed.mark();
  const { runs, t0, tEnd } = await pullAll(lan, options.tag, options.source, options.outDir, options.timeoutMs);
  const requests = seed.between(from, await seed.mark());
  await rm(options.outDir, { recursive: true, force: true });
  return { runs, t0, tEnd, requests, phase: phaseResult(lan, runs, t0, tEnd, options.imageBytes, options.idealS, requests), hosts: hostsResult(lan, runs, t0, requests) };
}

export interface QuietWait {
  readonly waitedS: number;
  readonly otherCores: number;
  readonly quiet: boolean;
}

/** Waits (up to maxS) until processes outside the benchmark use less than QUIET_CORES over 3 s; returns what it saw. */
export async function waitQuiet(sampler: Sampler, phase: string, maxS: number): Promise<QuietWait> {
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
