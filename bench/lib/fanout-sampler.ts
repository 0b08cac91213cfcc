// Samples the whole machine while the fan-out benchmark runs (root namespace, /proc is shared):
//   - machine CPU from /proc/stat (busy, softirq, iowait, steal), in cores;
//   - CPU of every process, attributed by its network namespace: the benchmark's namespaces
//     (daemons, skopeo, seed, curl, probes), the benchmark process itself, kernel threads, and
//     everything else (other users of this shared machine);
//   - RSS (VmRSS) and peak RSS (VmHWM) of the processes it is told to watch (the daemons);
//   - byte counters of every port of the test LAN's switch: port rx = what the host sent (upload),
//     port tx = what it received (download). One `ip -s -j link show` per sample.
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
const PF_KTHREAD = 0x00200000;

export type CpuClass = 'bench-ns' | 'bench-self' | 'kernel' | 'other';

export interface CpuSplit {
  /** cores busy on average (user+nice+system+irq+softirq+steal-free), all CPUs */
  readonly busy: number;
  readonly softirq: number;
  readonly iowait: number;
  readonly steal: number;
  /** cores of process CPU time by class */
  readonly byClass: Readonly<Record<CpuClass, number>>;
}

export interface Sample {
  /** epoch ms */
  readonly t: number;
  /** cumulative /proc/stat ticks */
  readonly stat: { busy: number; softirq: number; iowait: number; steal: number; total: number };
  /** process CPU ticks used since the previous sample, by class */
  readonly classTicks: Record<CpuClass, number>;
  /** process CPU ticks since the previous sample, by watched pid */
  readonly watchedTicks: Map<number, number>;
  /** VmRSS bytes of watched pids */
  readonly rss: Map<number, number>;
  /** VmHWM bytes of watched pids */
  readonly hwm: Map<number, number>;
  /** RssAnon / RssFile / RssShmem bytes of watched pids */
  readonly rssParts: Map<number, { anon: number; file: number; shmem: number }>;
  /** switch port counters: rx = from the host, tx = to the host */
  readonly ports: Map<string, { rx: number; tx: number }>;
}

export interface Watched {
  readonly pid: number;
  readonly role: string;
  readonly host: string;
}

function readStat(): Sample['stat'] {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: user + nice + system + irq + softirq, softirq, iowait, steal, total };
}

interface ProcInfo {
  readonly key: string;
  readonly ticks: number;
  readonly kthread: boolean;
}

function readProc(pid: string): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // f[0] = state (field 3); flags = field 9 → f[6]; utime 14 → f[11]; stime 15 → f[12]; starttime 22 → f[19]
    return { key: `${pid}/${f[19]}`, ticks: Number(f[11]) + Number(f[12]), kthread: (Number(f[6]) & PF_KTHREAD) !== 0 };
  } catch {
    return undefined;
  }
}

function netnsOf(pid: string): number | undefined {
  try {
    const link = readlinkSync(`/proc/${pid}/ns/net`);
    return Number(/\[(\d+)\]/.exec(link)?.[1]);
  } catch {
    return undefined;
  }
}

function statusOf(pid: number): Map<string, number> | undefined {
  try {
    const fields = new Map<string, number>();
    for (const m of readFileSync(`/proc/${pid}/status`, 'utf8').matchAll(/^(\w+):\s+(\d+) kB$/gm)) fields.set(m[1]!, Number(m[2]) * 1024);
    return fields;
  } catch {
    return undefined;
  }
}

function switchCounters(switchNamespace: string): Promise<Map<string, { rx: number; tx: number }>> {
  // No switch (a benchmark on loopback that samples only CPU and memory): no ports.
  if (switchNamespace === '') return Promise.resolve(new Map());
  return new Promise((resolve) => {
    execFile('ip', ['-n', switchNamespace, '-s', '-j', 'link', 'show'], { encoding: 'utf8', timeout: 5_000 }, (error, stdout) => {
      const ports = new Map<string, { rx: number; tx: number }>();
      if (!error) {
        try {
          for (const link of JSON.parse(stdout) as Array<{ ifname?: string; stats64?: { rx?: { bytes?: number }; tx?: { bytes?: number } } }>) {
            if (link.ifname) ports.set(link.ifname, { rx: link.stats64?.rx?.bytes ?? 0, tx: link.stats64?.tx?.bytes ?? 0 });
          }
        } catch {
          // a sample without counters
        }
      }
      resolve(ports);
    });
  });
}

export class Sampler {
  readonly samples: Sample[] = [];
  readonly watched: Watched[] = [];
  readonly #switchNamespace: string;
  readonly #benchNamespaces: () => readonly string[];
  readonly #intervalMs: number;
  #nsInodes = new Set<number>();
  #nsNamesSeen = '';
  #last = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> | undefined;

  constructor(switchNamespace: string, benchNamespaces: () => readonly string[], intervalMs = 500) {
    this.#switchNamespace = switchNamespace;
    this.#benchNamespaces = benchNamespaces;
    this.#intervalMs = intervalMs;
  }

  watch(pid: number, role: string, host: string): void {
    if (pid > 0) this.watched.push({ pid, role, host });
  }

  start(): void {
    if (this.#timer) return;
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), this.#intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#busy;
  }

  /** Takes one sample now (skipped when the previous one is still running). */
  sample(): Promise<void> {
    if (this.#busy) return this.#busy;
    this.#busy = this.#take().finally(() => (this.#busy = undefined));
    return this.#busy;
  }

  #refreshNamespaces(): void {
    const names = this.#benchNamespaces();
    const joined = names.join(',');
    if (joined === this.#nsNamesSeen) return;
    this.#nsNamesSeen = joined;
    this.#nsInodes = new Set(
      names.flatMap((name) => {
        try {
          return [statSync(`/run/netns/${name}`).ino];
        } catch {
          return [];
        }
      }),
    );
  }

  async #take(): Promise<void> {
    const portsPromise = switchCounters(this.#switchNamespace);
    const t = Date.now();
    const stat = readStat();
    this.#refreshNamespaces();
    const first = this.samples.length === 0;
    const classTicks: Record<CpuClass, number> = { 'bench-ns': 0, 'bench-self': 0, kernel: 0, other: 0 };
    const watchedPids = new Set(this.watched.map((w) => w.pid));
    const watchedTicks = new Map<number, number>();
    const seen = new Map<string, number>();
    const self = String(process.pid);
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const info = readProc(pid);
      if (!info) continue;
      seen.set(info.key, info.ticks);
      const before = this.#last.get(info.key);
      // A process not seen before started since the last sample: all of its time is new.
      const delta = before === undefined ? (first ? 0 : info.ticks) : info.ticks - before;
      if (watchedPids.has(Number(pid))) watchedTicks.set(Number(pid), delta);
      if (delta === 0) continue;
      const cls: CpuClass = pid === self ? 'bench-self' : info.kthread ? 'kernel' : this.#nsInodes.has(netnsOf(pid) ?? -1) ? 'bench-ns' : 'other';
      classTicks[cls] += delta;
    }
    this.#last = seen;
    const rss = new Map<number, number>();
    const hwm = new Map<number, number>();
    const rssParts = new Map<number, { anon: number; file: number; shmem: number }>();
    for (const { pid, role } of this.watched) {
      if (role !== 'shoal') continue;
      const status = statusOf(pid);
      if (!status || !status.has('VmRSS')) continue;
      rss.set(pid, status.get('VmRSS')!);
      hwm.set(pid, status.get('VmHWM') ?? 0);
      rssParts.set(pid, { anon: status.get('RssAnon') ?? 0, file: status.get('RssFile') ?? 0, shmem: status.get('RssShmem') ?? 0 });
    }
    this.samples.push({ t, stat, classTicks, watchedTicks, rss, hwm, rssParts, ports: await portsPromise });
  }

  /** Samples with t in [from, to]. */
  window(from: number, to: number): Sample[] {
    return this.samples.filter((s) => s.t >= from && s.t <= to);
  }

  /** Average CPU over the samples in [from, to] (needs two). */
  cpu(from: number, to: number): CpuSplit | undefined {
    const w = this.window(from, to);
    const a = w[0];
    const b = w[w.length - 1];
    if (!a || !b || a === b) return undefined;
    const seconds = (b.t - a.t) / 1000;
    const cores = (ticks: number): number => ticks / CLK_TCK / seconds;
    const byClass: Record<CpuClass, number> = { 'bench-ns': 0, 'bench-self': 0, kernel: 0, other: 0 };
    for (const s of w.slice(1)) for (const k of Object.keys(byClass) as CpuClass[]) byClass[k] += s.classTicks[k];
    for (const k of Object.keys(byClass) as CpuClass[]) byClass[k] = cores(byClass[k]);
    return {
      busy: cores(b.stat.busy - a.stat.busy),
      softirq: cores(b.stat.softirq - a.stat.softirq),
      iowait: cores(b.stat.iowait - a.stat.iowait),
      steal: cores(b.stat.steal - a.stat.steal),
      byClass,
    };
  }

  /** Busy cores between consecutive samples in [from, to]: one value per interval. */
  busySeries(from: number, to: number): number[] {
    const w = this.window(from, to);
    const out: number[] = [];
    for (let i = 1; i < w.length; i++) {
      const a = w[i - 1]!;
      const b = w[i]!;
      const ticks = b.stat.total - a.stat.total;
      if (ticks > 0) out.push(((b.stat.busy - a.stat.busy) / ticks) * cpuCount());
    }
    return out;
  }

  /** CPU seconds a watched pid used in [from, to]. */
  cpuSecondsOf(pid: number, from: number, to: number): number {
    let ticks = 0;
    for (const s of this.window(from, to).slice(1)) ticks += s.watchedTicks.get(pid) ?? 0;
    return ticks / CLK_TCK;
  }

  /** Largest VmRSS sampled and the last VmHWM read (peak over the process's life) of a pid. */
  memoryOf(pid: number): { maxRss: number; hwm: number; atMax: { anon: number; file: number; shmem: number } | undefined } {
    let maxRss = 0;
    let hwm = 0;
    let atMax: { anon: number; file: number; shmem: number } | undefined;
    for (const s of this.samples) {
      const rss = s.rss.get(pid) ?? 0;
      if (rss > maxRss) {
        maxRss = rss;
        atMax = s.rssParts.get(pid);
      }
      hwm = Math.max(hwm, s.hwm.get(pid) ?? 0);
    }
    return { maxRss, hwm, atMax };
  }

  /** Bytes through a switch port in [from, to]: rx = the host's upload, tx = its download. */
  portBytes(port: string, from: number, to: number): { rx: number; tx: number } {
    const w = this.window(from, to).filter((s) => s.ports.has(port));
    const a = w[0]?.ports.get(port);
    const b = w[w.length - 1]?.ports.get(port);
    if (!a || !b) return { rx: 0, tx: 0 };
    return { rx: b.rx - a.rx, tx: b.tx - a.tx };
  }

  /** The most recent sample's counters and the one `ms` before it, for progress lines. */
  recent(ms: number): { a: Sample; b: Sample } | undefined {
    const b = this.samples[this.samples.length - 1];
    if (!b) return undefined;
    const a = [...this.samples].reverse().find((s) => s.t <= b.t - ms) ?? this.samples[0]!;
    return a === b ? undefined : { a, b };
  }
}

let cpuCountCache: number | undefined;
export function cpuCount(): number {
  if (cpuCountCache === undefined) {
    const lines = readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d+ /.test(l));
    cpuCountCache = lines.length || 1;
  }
  return cpuCountCache;
}
