// The shoal side of the fan-out benchmark: start a daemon per host and wait for the full mesh,
// warm every host up, then turn the daemons' figures (status snapshots before and after the pull,
// /proc samples, logs) into per-host results and the memory picture.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cluster, ClusterNode, NodeFigures } from '../../test/helpers/cluster.ts';
import { REGISTRY_PORT } from '../../test/helpers/cluster/constants.ts';
import { pullArgs, spawnSkopeo } from '../../test/helpers/cluster/host-client.ts';
import { memoryOf, type MemoryFigures } from '../../test/helpers/cluster/metrics.ts';
import { figuresDelta } from '../../test/helpers/cluster/status.ts';
import type { TestImage } from '../../test/helpers/images.ts';
import { elapsed, type FanOut, type HostResult } from './fanout-phase.ts';
import { MiB, fmt, progress } from './fanout-report.ts';
import type { Sampler } from './fanout-sampler.ts';

export interface ShoalHostResult extends HostResult {
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

/** Each daemon's memory from its /metrics (the status snapshot has none); undefined for one that does not answer. */
export const daemonMemory = (nodes: readonly ClusterNode[]): Promise<Array<MemoryFigures | undefined>> =>
  Promise.all(nodes.map((d) => d.metrics().then(memoryOf, () => undefined)));

/** Starts a daemon on every host, waits for the full mesh, and pulls the warm image everywhere; returns each daemon's idle memory. */
export async function startSwarm(cluster: Cluster, n: number, sampler: Sampler, warmRef: string, workDir: string): Promise<MemoryFigures[]> {
  progress(`[shoal] starting ${n} daemons`);
  const started = Date.now();
  const nodes = await cluster.startDaemons();
  for (const d of nodes) sampler.watch(d.pid, 'shoal', d.name);
  progress(`[shoal] full mesh (${n - 1} peers each) ${elapsed(started).toFixed(1)} s after start`);
  const idle = await Promise.all(nodes.map(async (d) => memoryOf(await d.metrics())));
  // Every host pulls a 1 MiB image first: the blob the first-byte samples read during the fan-out.
  const out = join(workDir, 'warm-out');
  await mkdir(out, { recursive: true });
  const runs = await Promise.all(nodes.map((d) => spawnSkopeo(d.host, pullArgs(`docker://127.0.0.1:${REGISTRY_PORT}/${warmRef}`, join(out, d.name)), 60_000)));
  const failed = runs.find((r) => !r.ok);
  if (failed) throw new Error(`warm-up pull failed on ${failed.host}: ${failed.stderr}`);
  await rm(out, { recursive: true, force: true });
  progress(`[shoal] warm-up image pulled on every host; idle daemon RSS ${idle.map((m) => fmt(m.rssBytes / MiB, 0)).join(' ')} MiB`);
  return idle;
}

const isEvent = (l: { level?: number; msg?: string }): boolean => Number(l.level) >= 40 || l.msg === 'peer failed a piece; it resumes from another source';

/** Per host: what its daemon's counters grew by during the fan-out, CPU from /proc, notable log lines. */
export function shoalHostResults(nodes: readonly ClusterNode[], fan: FanOut, before: readonly NodeFigures[], after: readonly NodeFigures[], idle: readonly MemoryFigures[], sampler: Sampler, image: TestImage): ShoalHostResult[] {
  const digests = new Set(image.blobs.map((b) => b.digest));
  const { t0, tEnd } = fan;
  return fan.hosts.map((h, i) => {
    const d = nodes[i]!;
    const grew = figuresDelta(before[i]!, after[i]!);
    const duringPull = d.logs().filter((l) => typeof l.time === 'number' && l.time >= t0);
    return {
      ...h,
      fromSeedBytes: grew.seedBytes,
      fromPeersBytes: grew.peerReceivedBytes,
      servedToPeersBytes: grew.peerServedBytes,
      verificationFailures: grew.verificationFailures,
      daemonCpuS: sampler.cpuSecondsOf(d.pid, t0 - 1_000, tEnd + 600),
      skopeoCpuS: sampler.cpuSecondsOf(fan.runs[i]!.pid, t0 - 1_000, tEnd + 600),
      rssMaxMiB: 0,
      rssHwmMiB: 0,
      idleRssMiB: idle[i]!.rssBytes / MiB,
      logEvents: duringPull
        .filter((l) => l.time! <= tEnd + 1_000 && isEvent(l))
        .reduce<Record<string, number>>((acc, l) => ((acc[String(l.msg)] = (acc[String(l.msg)] ?? 0) + 1), acc), {}),
      blobs: duringPull
        .filter((l) => l.msg === 'blob fetched and verified' && digests.has(String(l.digest)))
        .map((l) => ({ digest: String(l.digest), bytes: Number(l.bytes), ms: Number(l.ms), doneAtS: Math.round(elapsed(t0, Number(l.time)) * 1000) / 1000 })),
    };
  });
}

export interface DaemonMemory {
  readonly host: string;
  readonly rssMaxMiB: number;
  readonly rssHwmMiB: number;
  /** /proc/<pid>/status split of the largest sampled RSS */
  readonly atMaxMiB: { anon: number; file: number; shmem: number } | undefined;
  readonly idle: { rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number } | undefined;
  readonly end: DaemonMemory['idle'];
}

/** Largest RSS sampled from /proc (or the daemon's own last figure), VmHWM, and the V8 heap idle and at the end. */
export function daemonMemoryReport(nodes: readonly ClusterNode[], sampler: Sampler, idle: readonly (MemoryFigures | undefined)[], end: readonly (MemoryFigures | undefined)[]): DaemonMemory[] {
  const heap = (x: MemoryFigures | undefined) => x && { rssMiB: x.rssBytes / MiB, heapUsedMiB: x.heapUsedBytes / MiB, heapTotalMiB: x.heapTotalBytes / MiB, externalMiB: x.externalBytes / MiB };
  return nodes.map((d, i) => {
    const m = sampler.memoryOf(d.pid);
    return {
      host: d.name,
      rssMaxMiB: Math.max(m.maxRss, end[i]?.rssBytes ?? 0) / MiB,
      rssHwmMiB: m.hwm / MiB,
      atMaxMiB: m.atMax && { anon: m.atMax.anon / MiB, file: m.atMax.file / MiB, shmem: m.atMax.shmem / MiB },
      idle: heap(idle[i]),
      end: heap(end[i]),
    };
  });
}

/** Announce messages each daemon sent (one per receiving peer) and received over its life, by type, from its 'swarm: stopped' line. */
export function messageCountsReport(nodes: readonly ClusterNode[]): string {
  type Counts = { sent: Record<string, number>; received: Record<string, number> };
  const rows = nodes.flatMap((d) => {
    const line = d.runLogs().findLast((l) => l.msg === 'swarm: stopped') as { messages?: Counts } | undefined;
    return line?.messages ? [{ host: d.name, ...line.messages }] : [];
  });
  if (rows.length === 0) return '';
  const types = [...new Set(rows.flatMap((r) => [...Object.keys(r.sent), ...Object.keys(r.received)]))].sort();
  const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
  const cell = (c: Record<string, number>) => types.map((t) => `${t} ${c[t] ?? 0}`).join(', ');
  return `Announce messages over each daemon's life (sent = per receiving peer):\n${rows.map((r) => `  ${r.host}: sent ${total(r.sent)} (${cell(r.sent)}); received ${total(r.received)} (${cell(r.received)})`).join('\n')}\n`;
}
