// The fan-out benchmark's findings: the verdict, the tables on stdout, and the JSON saved in
// bench/results (fanout-series.ts reads its fields: keep their names).
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../test/helpers/cluster/constants.ts';
import type { TestImage } from '../../test/helpers/images.ts';
import { renderLinks, type LinkReport } from './fanout-links.ts';
import type { Options } from './fanout-options.ts';
import { describeCpu, type CpuSummary, type HostResult, type PhaseResult, type QuietWait } from './fanout-phase.ts';
import type { Propagation } from './fanout-propagation.ts';
import { MiB, fmt, mib, spread, table } from './fanout-report.ts';
import { cpuCount } from './fanout-sampler.ts';
import type { DaemonMemory, ShoalHostResult } from './fanout-swarm.ts';
import { stripSamples, type TtfbResult } from './fanout-ttfb.ts';
import { uploadShare, uploadShareLine, uploadShareRow } from './upload-share.ts';

export const GOALS = { lastFinishOverIdeal: 1.3, seedEgressOverImage: 1.05, propagationP95Ms: 1000, rssMiB: 150 } as const;

/** Everything one run measured. */
export interface FanoutRun {
  readonly options: Options;
  readonly workDirBase: string;
  readonly imageRef: string;
  readonly image: TestImage;
  readonly imageBytes: number;
  readonly idealS: number;
  readonly baseline: { phase: PhaseResult; hosts: HostResult[] } | undefined;
  readonly shoal: PhaseResult;
  /** per host, with its daemon's memory */
  readonly hosts: readonly ShoalHostResult[];
  readonly memory: readonly DaemonMemory[];
  readonly seedPerBlob: ReadonlyArray<{ digest: string; size: number; seedBytes: number; gets: number }>;
  readonly ttfb: { readonly idle: TtfbResult; readonly duringFanout: TtfbResult };
  readonly propagation: Propagation;
  readonly propagationCpu: CpuSummary | undefined;
  readonly waitForQuiet: Readonly<Record<string, QuietWait>>;
  readonly notes: readonly string[];
  /** Each link's use every 100 ms from the pull's start to the last finish (fanout-links.ts). */
  readonly links: { readonly baseline: LinkReport | undefined; readonly shoal: LinkReport };
}

/** Figures derived from a run for both the text and the JSON. */
function derive(run: FanoutRun) {
  const { shoal, hosts, options } = run;
  const cpuWork = {
    daemonsS: hosts.reduce((sum, h) => sum + h.daemonCpuS, 0),
    skopeoS: hosts.reduce((sum, h) => sum + h.skopeoCpuS, 0),
    benchNamespacesS: (shoal.cpu?.byClass['bench-ns'] ?? 0) * shoal.wallS,
  };
  const linkBound = hosts.map((h) => h.downloadMbit / options.rateMbit);
  const cpuBound = shoal.cpu?.bound === true;
  const verdict: string[] = [];
  if (shoal.cpu) {
    const c = shoal.cpu;
    verdict.push(
      cpuBound
        ? `CPU-limited: the machine was ${fmt((c.busy / c.cores) * 100, 0)}% busy on average and saturated ${fmt(c.saturatedShare * 100, 0)}% of the time (${fmt(c.busy)} of ${c.cores} cores: the benchmark's processes ${fmt(c.byClass['bench-ns'] + c.byClass['bench-self'])}, other users ${fmt(c.byClass.other)}, softirq ${fmt(c.softirq)}) during the shoal fan-out; hosts' download links averaged ${fmt(spread(linkBound).median * 100, 0)}% of ${options.rateMbit} Mbit/s (median host). Figures for time are upper bounds set by this machine, not by the design; rerun with fewer --hosts or a lower --rate-mbit.`
        : `not CPU-limited: the machine was ${fmt((c.busy / c.cores) * 100, 0)}% busy on average and saturated ${fmt(c.saturatedShare * 100, 0)}% of the time during the shoal fan-out; hosts' download links averaged ${fmt(spread(linkBound).median * 100, 0)}% of ${options.rateMbit} Mbit/s (median host).`,
    );
  }
  for (const [name, phase] of [['shoal fan-out', shoal], ['baseline', run.baseline?.phase]] as const) {
    const other = phase?.cpu?.byClass.other ?? 0;
    if (other > 0.2) verdict.push(`other processes on this machine (not the benchmark's) used ${fmt(other)} cores on average during the ${name}: a concurrent load skews its times.`);
  }
  return {
    cpuWork,
    /** The shortest time this machine could have moved the pull's CPU work with every core on it. */
    cpuFloorS: cpuWork.benchNamespacesS / cpuCount(),
    propSpread: spread(run.propagation.samples.map((s) => s.ms)),
    propAfterSkopeo: spread(run.propagation.samples.map((s) => s.afterSkopeoMs)),
    rssMax: Math.max(...run.memory.map((m) => Math.max(m.rssMaxMiB, m.rssHwmMiB))),
    fromSeedPerHost: spread(hosts.map((h) => h.fromSeedBytes / MiB)),
    fromPeersPerHost: spread(hosts.map((h) => h.fromPeersBytes / MiB)),
    cpuBound,
    verdict,
  };
}

type Derived = ReturnType<typeof derive>;

function summaryTable(run: FanoutRun, d: Derived): string {
  const s = run.shoal;
  const b = run.baseline?.phase;
  return table([
    ['', 'shoal swarm', 'baseline (seed only)', 'goal'],
    ['last finish / ideal', fmt(s.lastFinishOverIdeal), fmt(b?.lastFinishOverIdeal), `≤ ${GOALS.lastFinishOverIdeal}`],
    ['last finish (s)', fmt(s.lastFinishS), fmt(b?.lastFinishS), `≤ ${fmt(run.idealS * GOALS.lastFinishOverIdeal)}`],
    ['finish min / median / max (s)', `${fmt(s.finish.min)} / ${fmt(s.finish.median)} / ${fmt(s.finish.max)}`, b ? `${fmt(b.finish.min)} / ${fmt(b.finish.median)} / ${fmt(b.finish.max)}` : '–', ''],
    ['seed egress / image (access log)', fmt(s.seedEgressOverImage, 3), fmt(b?.seedEgressOverImage, 3), `≤ ${GOALS.seedEgressOverImage}`],
    ['seed egress (MiB, blob GETs)', mib(s.seedEgressBytes), b ? mib(b.seedEgressBytes) : '–', ''],
    ['seed link sent (MiB, wire)', mib(s.seedWireBytes), b ? mib(b.seedWireBytes) : '–', ''],
    ['seed blob GETs (of which 1-byte size probes)', `${s.seedBlobGets} (${s.seedSizeProbes})`, b ? `${b.seedBlobGets} (${b.seedSizeProbes})` : '–', ''],
    ['CPU busy (cores, avg / max)', `${fmt(s.cpu?.busy)} / ${fmt(s.cpu?.busyMax)}`, b ? `${fmt(b.cpu?.busy)} / ${fmt(b.cpu?.busyMax)}` : '–', `of ${cpuCount()}`],
    ['daemon RSS max (MiB; idle median)', `${fmt(d.rssMax, 1)} (${fmt(spread(run.hosts.map((h) => h.idleRssMiB)).median, 1)})`, '', `≤ ${GOALS.rssMiB}`],
    ['announcement propagation p95 (ms)', fmt(d.propSpread.p95, 0), '', `≤ ${GOALS.propagationP95Ms}`],
    uploadShareRow(uploadShare(run.hosts)),
  ]);
}

function perHostTable(run: FanoutRun): string {
  const baseline = run.baseline;
  return table([
    ['host', 'finish s', 'down Mbit/s', 'from seed MiB', 'from peers MiB', 'served MiB', 'daemon CPU s', 'skopeo CPU s', 'RSS idle MiB', 'RSS max MiB', 'VmHWM MiB', ...(baseline ? ['baseline finish s'] : [])],
    ...run.hosts.map((h, i) => [
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
  ]);
}

function ttfbTable(ttfb: FanoutRun['ttfb']): string {
  const row = (label: string, r: TtfbResult['peer']): string[] => [label, String(r.n), fmt(r.median, 1), fmt(r.p95, 1), fmt(r.max, 1), fmt(r.connectMedian, 1)];
  return table([
    ['', 'n', 'median', 'p95', 'max', 'connect median'],
    row('peer data plane, idle', ttfb.idle.peer),
    row('seed registry, idle', ttfb.idle.seed),
    row('peer data plane, during fan-out', ttfb.duringFanout.peer),
    row('seed registry, during fan-out', ttfb.duringFanout.seed),
  ]);
}

/** The text report, as printed on stdout. */
export function renderText(run: FanoutRun): string {
  const d = derive(run);
  const { options, shoal } = run;
  const out: string[] = [];
  out.push('');
  out.push(`shoal fan-out: ${options.hosts} hosts, links ${options.rateMbit} Mbit/s (hosts and seed, htb), image ${mib(run.imageBytes, 1)} MiB (${run.image.layers.length} layers + config), ideal ${fmt(run.idealS)} s, ${cpus().length} CPUs, work dir on ${run.workDirBase}${options.label ? `, ${options.label}` : ''}`);
  out.push('');
  out.push(summaryTable(run, d));
  out.push('');
  out.push('Per host (shoal run):');
  out.push(perHostTable(run));
  const events = new Map<string, number>();
  for (const h of run.hosts) for (const [msg, count] of Object.entries(h.logEvents)) events.set(msg, (events.get(msg) ?? 0) + count);
  const duplicated = run.seedPerBlob.filter((b) => b.seedBytes > b.size * 1.01 + 1024); // 1-byte size probes aside
  out.push(
    `daemon warnings/failed pieces during the pull: ${events.size ? [...events].map(([m, c]) => `${c}× "${m}"`).join(', ') : 'none'}; blobs the seed sent more than once: ${duplicated.length ? duplicated.map((b) => `${mib(b.size)} MiB layer ${fmt(b.seedBytes / b.size, 2)}×`).join(', ') : 'none'}`,
  );
  out.push(uploadShareLine(uploadShare(run.hosts)));
  out.push(`from seed per host (MiB): min ${fmt(d.fromSeedPerHost.min, 1)} / median ${fmt(d.fromSeedPerHost.median, 1)} / max ${fmt(d.fromSeedPerHost.max, 1)}; from peers: min ${fmt(d.fromPeersPerHost.min, 1)} / median ${fmt(d.fromPeersPerHost.median, 1)} / max ${fmt(d.fromPeersPerHost.max, 1)}`);
  out.push('');
  if (run.links.baseline) out.push(renderLinks('Links, baseline (straight from the seed)', run.links.baseline));
  out.push(renderLinks('Links, shoal', run.links.shoal));
  out.push('Time to first byte (curl -r <one random byte> of a 1 MiB blob every host holds, from another host; new connection each; ms):');
  out.push(ttfbTable(run.ttfb));
  out.push('');
  out.push(
    `Announcement propagation (${run.propagation.samples.length} receiver samples from ${options.pushes} pushes; first 200 of HEAD /v2/<repo>/manifests/<tag> polled every ${options.pollMs} ms on each other host's daemon, from the origin's 'manifest pushed' log time): median ${fmt(d.propSpread.median, 0)} ms, p95 ${fmt(d.propSpread.p95, 0)} ms, max ${fmt(d.propSpread.max, 0)} ms; from skopeo's exit: median ${fmt(d.propAfterSkopeo.median, 0)} ms, p95 ${fmt(d.propAfterSkopeo.p95, 0)} ms`,
  );
  out.push('');
  out.push(`CPU, baseline: ${describeCpu(run.baseline?.phase.cpu)}`);
  out.push(`CPU, shoal:    ${describeCpu(shoal.cpu)}`);
  out.push(`CPU, propagation phase: ${describeCpu(run.propagationCpu)}`);
  out.push(
    `CPU work of the shoal fan-out: ${fmt(d.cpuWork.benchNamespacesS, 1)} CPU-s in the benchmark's namespaces (daemons ${fmt(d.cpuWork.daemonsS, 1)}, skopeo ${fmt(d.cpuWork.skopeoS, 1)}); on ${cpuCount()} cores that alone takes ≥ ${fmt(d.cpuFloorS, 1)} s, vs the ideal ${fmt(run.idealS, 1)} s and the measured ${fmt(shoal.lastFinishS, 1)} s`,
  );
  const worst = [...run.memory].sort((x, y) => y.rssMaxMiB - x.rssMaxMiB)[0];
  if (worst) {
    out.push(
      `Memory, largest daemon (${worst.host}): RSS max ${fmt(worst.rssMaxMiB, 1)} MiB (anon ${fmt(worst.atMaxMiB?.anon, 1)}, file ${fmt(worst.atMaxMiB?.file, 1)}, shmem ${fmt(worst.atMaxMiB?.shmem, 1)}); idle: RSS ${fmt(worst.idle?.rssMiB, 1)}, V8 heap used/total ${fmt(worst.idle?.heapUsedMiB, 1)}/${fmt(worst.idle?.heapTotalMiB, 1)}, external ${fmt(worst.idle?.externalMiB, 1)}; at the end: RSS ${fmt(worst.end?.rssMiB, 1)}, heap ${fmt(worst.end?.heapUsedMiB, 1)}/${fmt(worst.end?.heapTotalMiB, 1)}, external ${fmt(worst.end?.externalMiB, 1)} MiB`,
    );
  }
  out.push(...d.verdict.map((v) => `=> ${v}`));
  for (const note of run.notes) out.push(`note: ${note}`);
  return `${out.join('\n')}\n`;
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** The JSON document of a run. */
export function resultJson(run: FanoutRun): object {
  const d = derive(run);
  const { options, image } = run;
  return {
    benchmark: 'fanout',
    time: new Date().toISOString(),
    commit: gitCommit(),
    options,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryMiB: Math.round(totalmem() / MiB), kernel: release(), node: process.version, workDirBase: run.workDirBase },
    image: { repo: run.imageRef, bytes: run.imageBytes, layers: image.layers.map((l) => ({ digest: l.digest, size: l.size })), config: image.config.digest },
    idealS: run.idealS,
    goals: GOALS,
    baseline: run.baseline ?? null,
    shoal: { ...run.shoal, hosts: run.hosts, fromSeedPerHostMiB: d.fromSeedPerHost, fromPeersPerHostMiB: d.fromPeersPerHost, uploadShare: uploadShare(run.hosts), rssMaxMiB: d.rssMax, seedPerBlob: run.seedPerBlob, cpuWork: d.cpuWork, cpuFloorS: d.cpuFloorS, memory: run.memory },
    ttfb: { idle: stripSamples(run.ttfb.idle), duringFanout: stripSamples(run.ttfb.duringFanout) },
    propagation: {
      method: `every host runs bench/lib/fanout-probe.ts, HEADing its own daemon's /v2/<repo>/manifests/1 every ${options.pollMs} ms; the origin's daemon logs 'manifest pushed' (epoch ms) after storing and tagging the pushed manifest, which is when the tag announcement is broadcast; a receiver's sample is the arrival time of its first 200 (the tag announcement arrived, and the manifest was fetched from the origin) minus that log time. The swarm logs nothing when it receives a have/tag announcement, at any log level.`,
      ...d.propSpread,
      afterSkopeoExit: d.propAfterSkopeo,
      pushMs: run.propagation.pushMs,
      samples: run.propagation.samples,
      cpu: run.propagationCpu ?? null,
    },
    links: run.links,
    cpuBound: d.cpuBound,
    waitForQuiet: run.waitForQuiet,
    verdict: d.verdict,
    notes: run.notes,
  };
}

/** Writes bench/results/fanout-<time>.json and fanout-latest.json; returns the first path. */
export async function saveJson(run: FanoutRun): Promise<string> {
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(dir, `fanout-${stamp}.json`);
  const json = `${JSON.stringify(resultJson(run), null, 2)}\n`;
  await writeFile(file, json);
  await writeFile(join(dir, 'fanout-latest.json'), json);
  return file;
}
