// Link use over time during a fan-out: the switch's port byte counters every 100 ms (the sampler's
// 500 ms `ip -s link` is too coarse for a pull of a few seconds, and spawning `ip` ten times a
// second costs CPU this machine has not got). A `sleep` kept in the switch's namespace lets the
// bench read the ports' counters from /proc/<pid>/net/dev, one file read per sample.
// Port rx = what the host (or the seed) sent: its uplink; port tx = what it received.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fmt } from './fanout-report.ts';

export const LINK_SAMPLE_MS = 100;
/** An interval where a link moved less than this share of its rate counts as idle. */
const IDLE_SHARE = 0.1;
/** Characters of the text timeline, by use: <10%, <30%, <50%, <70%, <90%, ≥90%. */
const LEVELS = ' .:-=#';

interface LinkSample {
  readonly t: number;
  readonly ports: Map<string, { rx: number; tx: number }>;
}

/** One link's use over a window. */
export interface LinkUse {
  readonly link: string;
  /** bytes moved ÷ (rate × window) */
  readonly use: number;
  /** share of the 100 ms intervals at ≥ 90% of the rate */
  readonly busyShare: number;
  /** seconds of intervals below IDLE_SHARE of the rate, and the longest such run (when it started, s after t0) */
  readonly idleS: number;
  readonly longestIdleS: number;
  readonly longestIdleAtS: number;
  /** seconds from t0 to the link's last busy interval (≥ IDLE_SHARE) */
  readonly lastBusyS: number;
  /** one character per bin (LEVELS, bins of binS) */
  readonly timeline: string;
  /** Mbit/s per 100 ms interval */
  readonly mbit: number[];
}

export interface LinkReport {
  readonly intervalMs: number;
  readonly binS: number;
  readonly windowS: number;
  readonly links: LinkUse[];
}

function readPorts(pid: number): Map<string, { rx: number; tx: number }> {
  const ports = new Map<string, { rx: number; tx: number }>();
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
  } catch {
    return ports;
  }
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    ports.set(m[1]!, { rx: f[0] ?? 0, tx: f[8] ?? 0 });
  }
  return ports;
}

export class LinkSampler {
  readonly #samples: LinkSample[] = [];
  readonly #child: ChildProcess;
  #timer: NodeJS.Timeout | undefined;

  constructor(switchNamespace: string) {
    this.#child = spawn('ip', ['netns', 'exec', switchNamespace, 'sleep', '86400'], { stdio: 'ignore' });
    this.#child.on('error', () => undefined);
    process.once('exit', () => this.stop());
  }

  start(): void {
    this.#timer ??= setInterval(() => this.sample(), LINK_SAMPLE_MS);
  }

  sample(): void {
    const pid = this.#child.pid;
    if (pid !== undefined) this.#samples.push({ t: Date.now(), ports: readPorts(pid) });
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#child.exitCode === null) this.#child.kill();
  }

  /** Use of each named link ([label, port, 'up' | 'down']) over [t0, t1], at `rateMbit`. */
  report(links: ReadonlyArray<readonly [string, string, 'up' | 'down']>, t0: number, t1: number, rateMbit: number): LinkReport {
    const w = this.#samples.filter((s) => s.t >= t0 - LINK_SAMPLE_MS && s.t <= t1 + LINK_SAMPLE_MS);
    const windowS = (t1 - t0) / 1000;
    const binS = Math.max(0.25, Math.round((windowS / 40) * 4) / 4);
    return { intervalMs: LINK_SAMPLE_MS, binS, windowS, links: links.map(([label, port, dir]) => linkUse(label, w, port, dir === 'up' ? 'rx' : 'tx', t0, rateMbit, binS)) };
  }
}

function linkUse(link: string, w: readonly LinkSample[], port: string, dir: 'rx' | 'tx', t0: number, rateMbit: number, binS: number): LinkUse {
  const rateBytesPerS = (rateMbit * 1e6) / 8;
  const mbit: number[] = [];
  const bins: Array<{ bytes: number; s: number }> = [];
  let bytes = 0;
  let seconds = 0;
  let busy = 0;
  let idleS = 0;
  let run = 0;
  let runStart = 0;
  let longest = 0;
  let longestAt = 0;
  let lastBusy = 0;
  for (let i = 1; i < w.length; i++) {
    const a = w[i - 1]!;
    const b = w[i]!;
    const s = (b.t - a.t) / 1000;
    const x = a.ports.get(port);
    const y = b.ports.get(port);
    if (!x || !y || s <= 0) continue;
    const moved = y[dir] - x[dir];
    const share = moved / (rateBytesPerS * s);
    const at = (a.t - t0) / 1000;
    mbit.push(Math.round((moved * 8) / 1e6 / s));
    bytes += moved;
    seconds += s;
    if (share >= 0.9) busy += s;
    if (share < IDLE_SHARE) {
      idleS += s;
      if (run === 0) runStart = at;
      run += s;
      if (run > longest) [longest, longestAt] = [run, runStart];
    } else {
      run = 0;
      lastBusy = (b.t - t0) / 1000;
    }
    const bin = Math.max(0, Math.floor(at / binS));
    bins[bin] ??= { bytes: 0, s: 0 };
    bins[bin].bytes += moved;
    bins[bin].s += s;
  }
  const timeline = Array.from(bins, (bin) => {
    if (!bin || bin.s === 0) return '?';
    const share = bin.bytes / (rateBytesPerS * bin.s);
    return LEVELS[share < 0.1 ? 0 : share < 0.3 ? 1 : share < 0.5 ? 2 : share < 0.7 ? 3 : share < 0.9 ? 4 : 5]!;
  }).join('');
  return {
    link,
    use: seconds > 0 ? bytes / (rateBytesPerS * seconds) : Number.NaN,
    busyShare: seconds > 0 ? busy / seconds : Number.NaN,
    idleS,
    longestIdleS: longest,
    longestIdleAtS: longestAt,
    lastBusyS: lastBusy,
    timeline,
    mbit,
  };
}

/** The text: one line per link, the timeline between bars, its use and idle time. */
export function renderLinks(title: string, r: LinkReport): string {
  const width = Math.max(...r.links.map((l) => l.link.length));
  const lines = r.links.map(
    (l) =>
      `  ${l.link.padEnd(width)} |${l.timeline}| use ${fmt(l.use * 100, 0).padStart(3)}%, ≥90% ${fmt(l.busyShare * 100, 0).padStart(3)}% of the time, idle ${fmt(l.idleS, 1)} s (longest ${fmt(l.longestIdleS, 1)} s at ${fmt(l.longestIdleAtS, 1)} s), last busy ${fmt(l.lastBusyS, 1)} s`,
  );
  return `${title}: ${r.intervalMs} ms samples over ${fmt(r.windowS, 1)} s, one character per ${r.binS} s ('${LEVELS}' = <10, <30, <50, <70, <90, ≥90% of the link)\n${lines.join('\n')}\n`;
}
