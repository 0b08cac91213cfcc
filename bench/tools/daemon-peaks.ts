// Watches every `shoal.js serve` whose command line contains --match (a benchmark's work dir, say)
// and tells, for each, where its memory lay at its RSS peak: /proc/<pid>/smaps split into malloc's
// main heap, other anonymous memory and files, and V8's own figures from the daemon's /metrics
// (read from inside its network namespace with nsenter). Runs beside a benchmark it does not
// change (bench:fanout has no hook for this), until --seconds pass or it is interrupted.
//   node bench/tools/daemon-peaks.ts --match /dev/shm/shoal-fanout --seconds 600 [--interval-ms 100]
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { parseFlags } from '../lib/args.ts';
import { smapsOf, type SmapsFigures } from '../lib/memory-smaps.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const flags = parseFlags(process.argv.slice(2), { switches: [], values: ['match', 'seconds', 'interval-ms', 'metrics-port'] });
const match = String(flags.get('match') ?? '');
const seconds = Number(flags.get('seconds') ?? 600);
const intervalMs = Number(flags.get('interval-ms') ?? 100);
const metricsPort = Number(flags.get('metrics-port') ?? 5003);

interface Peak {
  rssMiB: number;
  at: number;
  smaps?: SmapsFigures;
  threads?: number;
  v8?: Record<string, number>;
}

const peaks = new Map<number, Peak>();
const busy = new Set<number>();
const started = Date.now();

async function daemons(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('shoal.js') && cmd.includes('\0serve\0') && cmd.includes(match)) pids.push(Number(entry));
  }
  return pids;
}

const V8_METRICS = /^shoal_nodejs_(heap_size_used_bytes|heap_size_total_bytes|external_memory_bytes|heap_space_size_used_bytes\{space="(\w+)"\}) (\S+)/;

async function v8Of(pid: number): Promise<Record<string, number>> {
  const { stdout } = await run('nsenter', ['-t', String(pid), '-n', 'curl', '-s', '-m', '2', `http://127.0.0.1:${metricsPort}/metrics`]);
  const figures: Record<string, number> = {};
  for (const line of stdout.split('\n')) {
    const m = V8_METRICS.exec(line);
    if (m) figures[m[2] ? `space_${m[2]}` : m[1]!] = Number(m[3]) / MiB;
  }
  return figures;
}

async function statusOf(pid: number): Promise<{ rss: number; threads: number } | undefined> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { rss: kib('VmRSS') / 1024, threads: kib('Threads') };
}

async function look(pid: number): Promise<void> {
  if (busy.has(pid)) return;
  busy.add(pid);
  try {
    const status = await statusOf(pid);
    if (!status) return;
    const peak = peaks.get(pid);
    if (peak && status.rss < peak.rssMiB + 0.5) return;
    const next: Peak = { rssMiB: status.rss, at: (Date.now() - started) / 1000, threads: status.threads };
    peaks.set(pid, next);
    next.smaps = await smapsOf(pid).catch(() => undefined);
    next.v8 = await v8Of(pid).catch(() => undefined);
  } finally {
    busy.delete(pid);
  }
}

const fmt = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));
function report(): void {
  const rows = [...peaks].sort((a, b) => b[1].rssMiB - a[1].rssMiB);
  process.stdout.write('pid      peakRSS  t(s)  mallocHeap otherAnon file | v8used v8total external old code large new | threads\n');
  for (const [pid, p] of rows) {
    const v = p.v8 ?? {};
    process.stdout.write(`${String(pid).padEnd(8)} ${fmt(p.rssMiB).padStart(7)} ${fmt(p.at).padStart(5)}  ${fmt(p.smaps?.mallocHeapMiB).padStart(10)} ${fmt(p.smaps?.otherAnonMiB).padStart(9)} ${fmt(p.smaps?.fileMiB).padStart(4)} | ${fmt(v.heap_size_used_bytes).padStart(6)} ${fmt(v.heap_size_total_bytes).padStart(7)} ${fmt(v.external_memory_bytes).padStart(8)} ${fmt(v.space_old).padStart(4)} ${fmt(v.space_code).padStart(4)} ${fmt(v.space_large_object).padStart(5)} ${fmt(v.space_new).padStart(3)} | ${p.threads}\n`);
  }
}

process.on('SIGINT', () => {
  report();
  process.exit(0);
});
process.on('SIGTERM', () => {
  report();
  process.exit(0);
});
const until = Date.now() + seconds * 1000;
let pids: number[] = [];
let listedAt = 0;
while (Date.now() < until) {
  // The process list is read once a second: daemons come and go rarely, RSS moves fast.
  if (Date.now() - listedAt > 1000) {
    pids = await daemons();
    listedAt = Date.now();
  }
  for (const pid of pids) void look(pid);
  await new Promise((r) => setTimeout(r, intervalMs));
}
report();
