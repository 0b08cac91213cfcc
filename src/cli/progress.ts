// Numbers and bars for the client commands' output: byte counts, rates, ETAs, durations and the
// progress line of `shoal prefetch`. Pure functions (and one small rate meter), so they are tested alone.
import { formatBytes } from '../lib/bytes.ts';

/** `12.3 MiB/s`; `0 B/s` when nothing moved (or the rate is not known yet). */
export function formatRate(bytesPerSecond: number | undefined): string {
  return `${formatBytes(bytesPerSecond !== undefined && Number.isFinite(bytesPerSecond) ? bytesPerSecond : 0)}/s`;
}

/** Time left: `--` when unknown, `42s`, `3m05s`, `2h07m`. */
export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 100 * 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return '>99h';
}

/** Seconds until `total` at `rate`; undefined while the rate is unknown or zero. */
export function etaSeconds(done: number, total: number, bytesPerSecond: number | undefined): number | undefined {
  if (done >= total) return 0;
  if (bytesPerSecond === undefined || !(bytesPerSecond > 0)) return undefined;
  return (total - done) / bytesPerSecond;
}

/** Elapsed time for summaries: `0.4 s`, `4.2 s`, `59.9 s`, `1m05s`, `1h02m`. */
export function formatElapsed(ms: number): string {
  if (ms < 59_950) return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
  return formatEta(ms / 1000);
}

/** An age such as a peer's last-seen time: `now`, `3 s ago`, `4 min ago`, `2 h ago`, `3 d ago`. */
export function formatAgo(ms: number): string {
  if (ms < 1000) return 'now';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** `42%`, whole percent, clamped to 0..100; `--%` when the total is 0 and nothing is known. */
export function formatPercent(part: number, total: number): string {
  if (!(total > 0)) return part > 0 ? '100%' : '0%';
  return `${Math.min(100, Math.max(0, Math.floor((part / total) * 100)))}%`;
}

/**
 * Where the bytes came from: `seed 100%, peers 0%`, plus `, cached 60%` for bytes neither the
 * seed nor peers sent (the daemon had them already). Shares of the bytes moved; rounded so they add to 100.
 */
export function formatSourceSplit(fromSeed: number, fromPeers: number, total: number): string {
  const seed = Math.max(0, fromSeed);
  const peers = Math.max(0, fromPeers);
  const whole = Math.max(total, seed + peers);
  if (!(whole > 0)) return 'seed 0%, peers 0%';
  const cached = Math.max(0, whole - seed - peers);
  const [seedPct, peersPct, cachedPct] = roundShares([seed, peers, cached], whole);
  return `seed ${seedPct}%, peers ${peersPct}%${cached > 0 ? `, cached ${cachedPct}%` : ''}`;
}

/** Whole percentages of `parts` that add to exactly 100 (largest remainder). */
export function roundShares(parts: readonly number[], whole: number): number[] {
  const exact = parts.map((part) => (part / whole) * 100);
  const floors = exact.map(Math.floor);
  let missing = 100 - floors.reduce((sum, v) => sum + v, 0);
  const order = exact.map((v, i) => [v - Math.floor(v), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) {
    if (missing <= 0) break;
    floors[i] = (floors[i] ?? 0) + 1;
    missing -= 1;
  }
  return floors;
}

/** A bar of `width` cells; `ascii` uses `#` and `-` for terminals without block characters. */
export function renderBar(fraction: number, width: number, ascii = false): string {
  const cells = Math.max(0, Math.floor(width));
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.floor(f * cells);
  const [on, off] = ascii ? ['#', '-'] : ['█', '░'];
  return on.repeat(full) + off.repeat(cells - full);
}

/** Cuts a line to `columns - 1` characters so the terminal never wraps it (a wrapped line cannot be redrawn with \r). */
export function fitWidth(line: string, columns: number | undefined): string {
  if (columns === undefined || columns <= 1) return line;
  const max = columns - 1;
  const chars = [...line];
  return chars.length <= max ? line : `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

export interface ProgressState {
  readonly label: string;
  readonly done: number;
  readonly total: number;
  readonly bytesPerSecond: number | undefined;
  /** Bytes the daemon received from the seed and from peers since this image started; undefined: not known.
   *  Shown as shares of their sum (no "cached" share while in progress). */
  readonly fromSeed?: number;
  readonly fromPeers?: number;
}

function progressFields(state: ProgressState): string[] {
  const fields = [
    `${formatBytes(state.done)} / ${formatBytes(state.total)}`,
    formatRate(state.bytesPerSecond),
    `ETA ${formatEta(etaSeconds(state.done, state.total, state.bytesPerSecond))}`,
  ];
  // While bytes move, the daemon's counters lag a poll behind the bytes read here: the split is
  // of what they show came over the network; what was already cached shows in the final line.
  const network = (state.fromSeed ?? 0) + (state.fromPeers ?? 0);
  if (state.fromSeed !== undefined && state.fromPeers !== undefined && network > 0) {
    fields.push(formatSourceSplit(state.fromSeed, state.fromPeers, network));
  }
  return fields;
}

/** The line redrawn on a terminal: label, bar, percent, bytes, rate, ETA, sources; fitted to `columns`. */
export function renderProgressLine(state: ProgressState, columns: number | undefined, ascii = false): string {
  const percent = formatPercent(state.done, state.total).padStart(4);
  const rest = `${percent}  ${progressFields(state).join('  ')}`;
  const width = columns ?? 100;
  // The bar takes what the text leaves, between 10 and 30 cells.
  const barWidth = Math.max(10, Math.min(30, width - 1 - state.label.length - rest.length - 4));
  return fitWidth(`${state.label} ${renderBar(state.total > 0 ? state.done / state.total : 0, barWidth, ascii)} ${rest}`, columns);
}

/** The periodic line for pipes and logs: the same facts, no bar, no control codes. */
export function renderPlainLine(state: ProgressState): string {
  return `${state.label}  ${formatPercent(state.done, state.total)}  ${progressFields(state).join('  ')}`;
}

/** Bytes per second over the last `windowMs`, from cumulative byte counts sampled as they grow. */
export class RateMeter {
  readonly #windowMs: number;
  readonly #samples: Array<{ at: number; bytes: number }> = [];

  constructor(windowMs = 5000) {
    this.#windowMs = windowMs;
  }

  /** Records the cumulative count `bytes` at time `at` (ms). */
  sample(at: number, bytes: number): void {
    this.#samples.push({ at, bytes });
    // Keep one sample older than the window so the rate spans the whole window.
    while (this.#samples.length > 2 && (this.#samples[1]?.at ?? at) <= at - this.#windowMs) this.#samples.shift();
  }

  /** Undefined until two samples at least 200 ms apart exist. */
  rate(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (first === undefined || last === undefined || last.at - first.at < 200) return undefined;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }
}
