// The simulation's table and JSON: per configuration and N, the figures the goals name,
// with the N = 32 row of the same configuration as the reference for control bytes.
import { fmt } from '../lib/fanout-report.ts';
import type { SimResult } from './sim.ts';

/** The goals at N = 1,000. */
export const GOALS = { seedEgress: 1.05, lastFinishOverIdeal: 1.5, connections: 64, controlBytesOverN32: 2 } as const;

export interface SimRow {
  readonly mode: string;
  readonly hosts: number;
  readonly finished: number;
  readonly seedEgress: number;
  readonly lastFinishOverIdeal: number;
  readonly medianFinishOverIdeal: number;
  readonly connectionsMax: number;
  readonly connectionsMean: number;
  /** bounded: peers whose progress a host hears, fewest and median over hosts. */
  readonly heard: { readonly min: number; readonly median: number } | undefined;
  /** Per host per blob, mean over hosts: frames and bytes written and read (DHT included for 'bounded', modelled). */
  readonly sentFrames: number;
  readonly sentBytes: number;
  readonly receivedFrames: number;
  readonly receivedBytes: number;
  readonly counts: Readonly<Record<string, number>>;
  /** Announcements per host (each to every connection), mean, by kind. */
  readonly messagesPerHost: Readonly<Record<string, number>>;
  readonly limitFactor: number;
  readonly simCpuS: number;
  readonly events: number;
  readonly uplinkUse: number;
  readonly idleUploaders: number;
  /** Over time, one character per STRIP_BIN of the ideal time (LEVELS): the seed's link, hosts' uplinks, hosts serving none. */
  readonly strips: { readonly seed: string; readonly uplinks: string; readonly idle: string };
}

/** Characters of the timelines, by share: <10%, <30%, <50%, <70%, <90%, ≥90% (as bench:fanout's links). */
const LEVELS = ' .:-=#';
/** A timeline character covers this share of the ideal time. */
const STRIP_BIN = 0.05;

/** One character per bin: the mean of `pick` over the samples in it. */
function strip(result: SimResult, pick: (t: SimResult['timeline'][number]) => number): string {
  const binMs = result.idealMs * STRIP_BIN;
  const bins: number[][] = [];
  for (const t of result.timeline) (bins[Math.floor(t.ms / binMs)] ??= []).push(pick(t));
  return Array.from(bins, (b = []) => {
    const mean = b.length === 0 ? 0 : b.reduce((x, y) => x + y, 0) / b.length;
    return LEVELS[[0.1, 0.3, 0.5, 0.7, 0.9].filter((edge) => mean >= edge).length]!;
  }).join('');
}

export function simRow(result: SimResult, cpuS: number): SimRow {
  const hosts = result.hosts;
  const mean = (f: (h: (typeof hosts)[number]) => number) => hosts.reduce((sum, h) => sum + f(h), 0) / hosts.length;
  const dht = result.dht ?? { framesPerHost: 0, bytesPerHost: 0 };
  return {
    mode: result.options.mode,
    hosts: result.options.hosts,
    finished: result.finished,
    seedEgress: result.seedEgress,
    lastFinishOverIdeal: result.lastFinishMs / result.idealMs,
    medianFinishOverIdeal: result.medianFinishMs / result.idealMs,
    connectionsMax: Math.max(...hosts.map((h) => h.connections)),
    connectionsMean: mean((h) => h.connections),
    heard: heardFigures(hosts.map((h) => h.heard)),
    sentFrames: mean((h) => h.sentFrames) + dht.framesPerHost / 2,
    sentBytes: mean((h) => h.sentBytes) + dht.bytesPerHost / 2,
    receivedFrames: mean((h) => h.receivedFrames) + dht.framesPerHost / 2,
    receivedBytes: mean((h) => h.receivedBytes) + dht.bytesPerHost / 2,
    counts: result.counts,
    messagesPerHost: Object.fromEntries(Object.keys(hosts[0]!.messages).map((k) => [k, mean((h) => h.messages[k] ?? 0)])),
    limitFactor: result.options.limitFactor,
    simCpuS: cpuS,
    events: result.events,
    uplinkUse: result.uplinkUse,
    idleUploaders: result.idleUploaders,
    strips: { seed: strip(result, (t) => t.seedUse), uplinks: strip(result, (t) => t.uplinkUse), idle: strip(result, (t) => t.idleUploaders) },
  };
}

function heardFigures(heard: readonly (number | undefined)[]): SimRow['heard'] {
  const counts = heard.filter((n): n is number => n !== undefined).sort((a, b) => a - b);
  return counts.length === 0 ? undefined : { min: counts[0]!, median: counts[Math.floor(counts.length / 2)]! };
}

/** Where each run's time went: the seed's link, the hosts' uplinks and the hosts serving none, over time. */
export function simStrips(rows: readonly SimRow[]): string[] {
  const out = [`Over time (one character per ${STRIP_BIN} × ideal, '${LEVELS}' = <10, <30, <50, <70, <90, ≥90%):`];
  for (const r of rows) {
    const label = `${r.mode} N=${r.hosts}`;
    out.push(`  ${label.padEnd(14)} seed link      |${r.strips.seed}|`, `  ${''.padEnd(14)} hosts' uplinks |${r.strips.uplinks}|`, `  ${''.padEnd(14)} serving none   |${r.strips.idle}|`);
  }
  return out;
}

const LABEL: Readonly<Record<string, string>> = {
  mesh: 'shoal today (full mesh)',
  capped: 'shoal today, max-peer-connections',
  bounded: 'shoal now: committee + neighbours, cap',
};

/** Control bytes per host per blob (written + read) over the same configuration's N = 32 figure. */
export function controlGrowth(row: SimRow, rows: readonly SimRow[]): number | undefined {
  // Under the cap at 32 hosts the capped configuration is the full mesh: that row is its reference.
  const base = rows.find((r) => (r.mode === row.mode || (row.mode === 'capped' && r.mode === 'mesh')) && r.hosts === 32);
  return base === undefined ? undefined : (row.sentBytes + row.receivedBytes) / (base.sentBytes + base.receivedBytes);
}

export function simTable(rows: readonly SimRow[]): string[][] {
  const head = ['configuration (modelled links, real decision code)', 'N', 'done', 'seed ÷ image', 'last ÷ ideal', 'median ÷ ideal', 'uplinks used', 'hosts serving none', 'conn/host max', 'progress heard from min/median', 'ctl frames/host/blob out+in', 'ctl KiB/host/blob out+in', '× N=32', 'sim CPU-s'];
  return [
    head,
    ...rows.map((r) => [
      LABEL[r.mode] ?? r.mode,
      String(r.hosts),
      `${r.finished}/${r.hosts}`,
      // Stopped at limitFactor × ideal with hosts unfinished: what the seed sent so far is a floor.
      `${r.finished < r.hosts ? '≥ ' : ''}${fmt(r.seedEgress, 3)}`,
      r.finished < r.hosts ? `> ${r.limitFactor}` : fmt(r.lastFinishOverIdeal),
      r.finished * 2 <= r.hosts ? `> ${r.limitFactor}` : fmt(r.medianFinishOverIdeal),
      `${fmt(r.uplinkUse * 100, 0)}%`,
      `${fmt(r.idleUploaders * 100, 0)}%`,
      String(r.connectionsMax),
      r.heard === undefined ? 'all' : `${r.heard.min}/${r.heard.median}`,
      `${fmt(r.sentFrames, 0)}+${fmt(r.receivedFrames, 0)}`,
      `${fmt(r.sentBytes / 1024, 0)}+${fmt(r.receivedBytes / 1024, 0)}`,
      fmt(controlGrowth(r, rows)),
      fmt(r.simCpuS, 1),
    ]),
  ];
}

/** Plain sentences on each configuration's largest N against the goals. */
export function verdicts(rows: readonly SimRow[]): string[] {
  const out: string[] = [];
  for (const mode of [...new Set(rows.map((r) => r.mode))]) {
    const largest = rows.filter((r) => r.mode === mode).sort((a, b) => b.hosts - a.hosts)[0]!;
    const growth = controlGrowth(largest, rows);
    const unfinished = largest.finished < largest.hosts;
    const checks = [
      [`seed egress ${unfinished ? 'at least ' : ''}${fmt(largest.seedEgress, 3)}x`, largest.seedEgress <= GOALS.seedEgress, `≤ ${GOALS.seedEgress}`],
      [unfinished ? `${largest.hosts - largest.finished} hosts unfinished at ${largest.limitFactor}x ideal` : `last finish ${fmt(largest.lastFinishOverIdeal)}x ideal`, !unfinished && largest.lastFinishOverIdeal <= GOALS.lastFinishOverIdeal, `≤ ${GOALS.lastFinishOverIdeal}`],
      [`${largest.connectionsMax} connections per host`, largest.connectionsMax <= GOALS.connections, `≤ ${GOALS.connections}`],
      [`control bytes ${fmt(growth)}x the N=32 figure`, growth !== undefined && growth <= GOALS.controlBytesOverN32, `≤ ${GOALS.controlBytesOverN32}`],
    ] as const;
    const text = checks.map(([what, ok, goal]) => `${what} (goal ${goal}: ${ok ? 'met' : 'MISSED'})`).join('; ');
    const said = Object.entries(largest.messagesPerHost).filter(([, n]) => n > 0).map(([kind, n]) => `${fmt(n, 0)} ${kind}`).join(', ');
    out.push(`${LABEL[mode] ?? mode} at N=${largest.hosts}: ${text}. Each host announced ${said} (${mode === 'bounded' ? 'progress and load to its blob neighbours, the rest' : 'each'} to all ${fmt(largest.connectionsMean, 0)} connections on average).`);
  }
  return out;
}
