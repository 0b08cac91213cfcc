// Memory of a shoal daemon, run as production runs it (npm start's V8 flags and malloc setting,
// swarm on but alone), seeded by Debian's docker-registry on loopback. Scenarios, in order:
//   - idle: RSS after start;
//   - crowd: --clients clients at once pull a cold --image-mib image of --layers layers through it
//     (docker's way: manifest, config, three layers at a time), bodies read and digests checked;
//   - mixed: on a second, fresh daemon, --requests fuzz-like requests, --concurrency at once
//     (bench/lib/memory-mixed.ts).
// The daemon's VmRSS and VmHWM come from /proc every 50 ms (the fan-out benchmark's sampler);
// VmHWM is reset before each scenario, so each one's peak is its own. Goal: ≤ 150 MiB everywhere.
// Where it lies: V8's heap from the daemon's /metrics, and /proc/<pid>/smaps split into malloc's
// main heap and the other anonymous memory (V8's pages, other arenas), once a second and at each
// new high of RSS.
// Progress on stderr, the table on stdout, JSON in bench/results/memory-<time>.json and memory-latest.json.
//
//   node bench/memory.bench.ts [--clients 200] [--image-mib 96] [--layers 4] [--requests 3000]
//     [--concurrency 32] [--no-swarm] [--entry FILE] [--node-args="--flag ..."] [--drop-env=KEY,...]
//     [--set-env=KEY=VALUE,...] [--wrap="heaptrack"]
// --drop-env leaves settings of src/daemon/runtime-flags.ts's DAEMON_ENV out (to measure the code
// before one was added, with --entry); --set-env tries other values. --wrap runs the daemon under
// a profiler (its figures then include the wrapper's), to see who allocated what at the peak.
import { readFileSync } from 'node:fs';
import { entryModule } from '../bin/built.js';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseFlags } from './lib/args.ts';
import { cleanupAll, trackTempDir } from './lib/cleanup.ts';
import { MiB, fmt, table } from './lib/fanout-report.ts';
import { Sampler } from './lib/fanout-sampler.ts';
import { progress } from './lib/http-get.ts';
import { heapOf, resetPeakRss, startMemoryDaemon, type HeapFigures, type MemoryDaemon } from './lib/memory-daemon.ts';
import { smapsOf, type SmapsFigures } from './lib/memory-smaps.ts';
import { mixedLoad, type MixedResult } from './lib/memory-mixed.ts';
import { pullCrowd, type CrowdResult } from './lib/memory-pull.ts';
import { pushImage } from './lib/push.ts';
import { writeBenchResult } from './lib/results.ts';
import { writeRandomFile, type BlobFile } from './lib/random-file.ts';
import { REPO_ROOT, buildDaemon, startRegistry2 } from './lib/servers.ts';

const GOAL_MIB = 150;
const REPO = 'bench/memory';
const SAMPLE_MS = 50;

interface Scenario {
  readonly name: string;
  readonly seconds: number;
  readonly rssStartMiB: number;
  /** largest VmRSS sampled during the scenario */
  readonly rssMaxMiB: number;
  /** VmHWM at the end: the true peak, reset at the scenario's start */
  readonly hwmMiB: number;
  /** VmRSS two seconds after the scenario ended */
  readonly rssAfterMiB: number;
  readonly anonAtMaxMiB: number;
  readonly fileAtMaxMiB: number;
  readonly heapAfter: HeapFigures;
  /** largest V8 heap and external (Buffer) memory the daemon's /metrics showed, read every 500 ms */
  readonly heapMax: HeapFigures;
  /** The split of the largest RSS seen in /proc/<pid>/smaps, read every second and at each new high (bench/lib/memory-smaps.ts). */
  readonly smapsAtMax: SmapsFigures | undefined;
  readonly daemonCpuS: number;
  /** Once a second: RSS, the smaps split and the latest heap figures, to see when and where a peak grows. */
  readonly timeline: readonly TimelinePoint[];
  readonly detail: CrowdResult | MixedResult | undefined;
}

interface TimelinePoint extends SmapsFigures, HeapFigures {
  readonly s: number;
}

/** Resident bytes of `pid` now (0 once it is gone). */
function residentBytes(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  } catch {
    return 0;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(name: string, daemon: MemoryDaemon, sampler: Sampler, run: () => Promise<CrowdResult | MixedResult | undefined>): Promise<Scenario> {
  const pid = daemon.server.pid;
  await sampler.sample();
  const rssStart = sampler.samples.at(-1)?.rss.get(pid) ?? 0;
  resetPeakRss(pid);
  const t0 = Date.now();
  const heaps: HeapFigures[] = [];
  const heapTimer = setInterval(() => void heapOf(daemon).then((h) => heaps.push(h), () => undefined), 500);
  let smapsAtMax: SmapsFigures | undefined;
  const total = (f: SmapsFigures): number => f.mallocHeapMiB + f.otherAnonMiB + f.fileMiB;
  const timeline: TimelinePoint[] = [];
  const keepLargest = (f: SmapsFigures): void => {
    if (!smapsAtMax || total(f) > total(smapsAtMax)) smapsAtMax = f;
    const heap = heaps.at(-1) ?? { heapUsedMiB: Number.NaN, heapTotalMiB: Number.NaN, externalMiB: Number.NaN };
    timeline.push({ s: (Date.now() - t0) / 1000, ...f, ...heap });
  };
  // Once a second for the timeline, and at once whenever RSS (statm, cheap to read every 100 ms)
  // passed its highest yet by 1 MiB: the split at the peak, not a second before or after it.
  let lastRead = 0;
  let highest = 0;
  let reading = false;
  const smapsTimer = setInterval(() => {
    if (reading) return;
    const rss = residentBytes(pid);
    if (Date.now() - lastRead < 1_000 && rss < highest + MiB) return;
    highest = Math.max(highest, rss);
    lastRead = Date.now();
    reading = true;
    void smapsOf(pid).then(keepLargest, () => undefined).finally(() => {
      reading = false;
    });
  }, 100);
  const detail = await run().finally(() => {
    clearInterval(heapTimer);
    clearInterval(smapsTimer);
  });
  const t1 = Date.now();
  await sampler.sample();
  const during = sampler.window(t0, Date.now());
  await sleep(2_000);
  await sampler.sample();
  if (daemon.server.child.exitCode !== null || daemon.server.child.signalCode !== null) throw new Error(`the daemon died during ${name}:\n${daemon.server.output()}`);
  let max = during[0];
  for (const s of during) if ((s.rss.get(pid) ?? 0) > (max?.rss.get(pid) ?? 0)) max = s;
  const parts = max?.rssParts.get(pid);
  return {
    name,
    seconds: (t1 - t0) / 1000,
    rssStartMiB: rssStart / MiB,
    rssMaxMiB: (max?.rss.get(pid) ?? 0) / MiB,
    hwmMiB: Math.max(...during.map((s) => s.hwm.get(pid) ?? 0)) / MiB,
    rssAfterMiB: (sampler.samples.at(-1)?.rss.get(pid) ?? 0) / MiB,
    anonAtMaxMiB: (parts?.anon ?? 0) / MiB,
    fileAtMaxMiB: (parts?.file ?? 0) / MiB,
    heapAfter: await heapOf(daemon),
    heapMax: {
      heapUsedMiB: Math.max(0, ...heaps.map((h) => h.heapUsedMiB)),
      heapTotalMiB: Math.max(0, ...heaps.map((h) => h.heapTotalMiB)),
      externalMiB: Math.max(0, ...heaps.map((h) => h.externalMiB)),
    },
    smapsAtMax,
    daemonCpuS: sampler.cpuSecondsOf(pid, t0 - SAMPLE_MS, Date.now()),
    timeline,
    detail,
  };
}

async function pushTestImage(work: string, seedUrl: string, imageMib: number, layerCount: number): Promise<{ layers: BlobFile[]; pushed: Awaited<ReturnType<typeof pushImage>> }> {
  const layers: BlobFile[] = [];
  for (let i = 0; i < layerCount; i++) layers.push(await writeRandomFile(join(work, `layer-${i}`), Math.floor((imageMib * MiB) / layerCount)));
  return { layers, pushed: await pushImage(seedUrl, REPO, '1', layers, { monolithicPost: false }) };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { switches: ['no-swarm'], values: ['clients', 'image-mib', 'layers', 'requests', 'concurrency', 'entry', 'node-args', 'drop-env', 'set-env', 'wrap'] });
  const number = (flag: string, fallback: number): number => {
    const value = Number(flags.get(flag) ?? fallback);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`--${flag} must be a positive whole number`);
    return value;
  };
  const list = (flag: string, separator: string | RegExp): string[] => (typeof flags.get(flag) === 'string' ? String(flags.get(flag)).split(separator).filter(Boolean) : []);
  const options = {
    clients: number('clients', 200),
    imageMib: number('image-mib', 96),
    layers: number('layers', 4),
    requests: number('requests', 3000),
    concurrency: number('concurrency', 32),
    swarm: !flags.has('no-swarm'),
    entry: typeof flags.get('entry') === 'string' ? String(flags.get('entry')) : undefined,
    nodeArgs: list('node-args', /\s+/),
    dropEnv: list('drop-env', ','),
    setEnv: Object.fromEntries(list('set-env', ',').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)])),
    wrap: list('wrap', /\s+/),
  };
  if (!options.entry) buildDaemon();
  const runs = options.entry ?? relative(REPO_ROOT, entryModule(REPO_ROOT));
  const work = trackTempDir(await mkdtemp(join(tmpdir(), 'shoal-memory-bench-')));
  const sampler = new Sampler('', () => [], SAMPLE_MS);
  const load = [loadavg()[0]!];
  try {
    progress(`writing a ${options.imageMib} MiB image of ${options.layers} layers and pushing it to the seed`);
    const seed = await startRegistry2({ rootDir: join(work, 'seed'), configDir: join(work, 'seed-config'), label: 'seed' });
    const { layers, pushed } = await pushTestImage(work, seed.url, options.imageMib, options.layers);
    const start = async (label: string): Promise<MemoryDaemon> => {
      const daemon = await startMemoryDaemon({ dataDir: join(work, label), upstream: seed.url, swarm: options.swarm, nodeArgs: options.nodeArgs, dropEnv: options.dropEnv, setEnv: options.setEnv, wrap: options.wrap, ...(options.entry ? { entry: options.entry } : {}) });
      sampler.watch(daemon.server.pid, 'shoal', label);
      return daemon;
    };
    sampler.start();
    const scenarios: Scenario[] = [];
    const crowdDaemon = await start('crowd');
    progress('idle: 3 s after start');
    scenarios.push(await measure('idle', crowdDaemon, sampler, () => sleep(3_000).then(() => undefined)));
    progress(`crowd: ${options.clients} clients pull the cold image at once`);
    scenarios.push(await measure(`${options.clients} clients, cold`, crowdDaemon, sampler, () => pullCrowd(crowdDaemon.server.url, { name: REPO, tag: '1' }, { digest: pushed.manifestDigest, size: pushed.manifest.byteLength }, options.clients)));
    load.push(loadavg()[0]!);
    await crowdDaemon.server.stop();
    // A daemon of its own, cold too: its peak is the mixed load's, not what the crowd left behind.
    const mixedDaemon = await start('mixed');
    await sleep(3_000);
    progress(`mixed: ${options.requests} requests, ${options.concurrency} at once, on a fresh daemon`);
    const manifest = JSON.parse(Buffer.from(pushed.manifest).toString('utf8')) as { config: { digest: string; size: number } };
    const target = { base: mixedDaemon.server.url, name: REPO, tag: '1', manifestDigest: pushed.manifestDigest, config: manifest.config, layers };
    scenarios.push(await measure('mixed, cold', mixedDaemon, sampler, () => mixedLoad(target, options.requests, options.concurrency)));
    load.push(loadavg()[0]!);
    await sampler.stop();
    await mixedDaemon.server.stop();
    await seed.stop();
    report(scenarios, { ...options, runs }, load);
    const file = await writeBenchResult('memory', { benchmark: 'memory', time: new Date().toISOString(), options, runs, loadAverage: load, goalMiB: GOAL_MIB, scenarios });
    process.stdout.write(`\nJSON: ${file}\n`);
  } finally {
    await sampler.stop();
    await cleanupAll();
  }
}

function report(scenarios: readonly Scenario[], options: { clients: number; imageMib: number; layers: number; swarm: boolean; runs: string }, load: readonly number[]): void {
  const out: string[] = [];
  out.push(`\nDaemon memory (MiB), one shoal ${options.swarm ? '(swarm on, alone)' : '(--no-swarm)'} running ${options.runs}; ${options.imageMib} MiB image of ${options.layers} layers; load average ${load.map((l) => fmt(l, 2)).join(' → ')}`);
  out.push(table([
    ['scenario', 'seconds', 'RSS start', 'RSS max (50 ms)', 'VmHWM', 'anon/file at max', 'RSS after', 'heap used max/after', 'heap total max', 'external max', 'malloc heap/other anon at max', 'daemon CPU-s', `goal ≤ ${GOAL_MIB}`],
    ...scenarios.map((s) => [s.name, fmt(s.seconds, 1), fmt(s.rssStartMiB, 1), fmt(s.rssMaxMiB, 1), fmt(s.hwmMiB, 1), `${fmt(s.anonAtMaxMiB, 0)}/${fmt(s.fileAtMaxMiB, 0)}`, fmt(s.rssAfterMiB, 1), `${fmt(s.heapMax.heapUsedMiB, 1)}/${fmt(s.heapAfter.heapUsedMiB, 1)}`, fmt(s.heapMax.heapTotalMiB, 1), fmt(s.heapMax.externalMiB, 1), s.smapsAtMax ? `${fmt(s.smapsAtMax.mallocHeapMiB, 0)}/${fmt(s.smapsAtMax.otherAnonMiB, 0)}` : '–', fmt(s.daemonCpuS, 1), s.hwmMiB <= GOAL_MIB ? 'ok' : 'over']),
  ]));
  for (const s of scenarios) {
    if (s.detail && 'unexpected' in s.detail) {
      out.push(`\nmixed: ${s.detail.requests} requests in ${fmt(s.detail.seconds, 1)} s, ${s.detail.unexpected} with an unexpected status${s.detail.examples.length ? `:\n  ${s.detail.examples.join('\n  ')}` : ''}`);
      out.push(`  ${Object.entries(s.detail.kinds).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    } else if (s.detail) {
      out.push(`\ncrowd: ${s.detail.clients} pulls, ${fmt(s.detail.bytes / MiB, 0)} MiB verified in ${fmt(s.detail.seconds, 1)} s`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`memory benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
