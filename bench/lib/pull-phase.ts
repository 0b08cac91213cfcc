// Phase 3 of bench/registry.bench.ts: a cold pull-through of one blob from the seed (a
// registry:2) through a fresh shoal and through a fresh registry:2 in proxy mode
// (`proxy.remoteurl`), beside the same GET straight from the seed and the blob written into a new
// file on the same disk (no server), in one round. The order of the four turns round by round.
// Each server's CPU (user + system, every thread, /proc/<pid>/stat) is counted from the request
// until the blob is committed in its store, and so are the seed's bytes sent (/proc/<pid>/io):
// registry:2's proxy fetches a blob twice (one stream to the client, one into its store).
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTempDir, trackTempDir } from './cleanup.ts';
import { benchAgent, median, progress, timedGet, type TimedGet } from './http-get.ts';
import { markWindow } from './fanout-profile.ts';
import { cpuDelta, cpuTimes, type CpuTimes } from './proc-cpu.ts';
import { bytesWritten } from './proc-io.ts';
import { threadCpu, threadCpuDelta, type ThreadCpu } from './thread-cpu.ts';
import type { BlobFile } from './random-file.ts';
import { startRegistry2, startShoal, type RunningServer } from './servers.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export interface PullOptions {
  readonly pullRounds: number;
  /** Directory for shoal's .cpuprofile files (one subdirectory per round, one file per thread). */
  readonly cpuProfDir: string | undefined;
  readonly shoalEntry: string | undefined;
}

export interface PullMeasure {
  readonly ttfbMs: number;
  readonly totalMs: number;
  readonly mbPerSec: number;
  /** From the client's last byte until the blob is in the server's store (pull-through servers). */
  readonly commitMs?: number;
  /** The server's CPU from the request until the commit. */
  readonly cpu?: CpuTimes;
  /** The same, ms by thread group (shoal only: a Go server's threads are all alike). */
  readonly threads?: ThreadCpu;
  /** What the seed sent from the request until the commit (its write-family system calls, /proc/<pid>/io), over the blob's size. */
  readonly seedSentOverBlob?: number;
}

/** `disk`: no server, the blob's bytes written into a new file beside the stores (what a server that stores before it serves cannot beat). */
export type PullPath = 'shoal' | 'proxy' | 'direct' | 'disk';

export interface PullSummary {
  readonly medianTtfbMs: number;
  readonly medianTotalMs: number;
  readonly totalMsRange: readonly [number, number];
  readonly medianMbPerSec: number;
  /** Server CPU-seconds per GiB pulled through, median and range over rounds; undefined without /proc. */
  readonly cpuSecondsPerGiB: { readonly median: number; readonly min: number; readonly max: number } | undefined;
  readonly medianCpuMs: { readonly user: number; readonly system: number } | undefined;
  /** Seed bytes sent per pull over the blob's size, median and range over rounds; undefined without /proc. */
  readonly seedSentOverBlob: { readonly median: number; readonly min: number; readonly max: number } | undefined;
}

export interface PullPhaseResult {
  readonly sizeBytes: number;
  readonly rounds: Array<Record<PullPath, PullMeasure>>;
  readonly shoal: PullSummary;
  /** registry:2 in proxy mode, cold, in front of the same seed. */
  readonly proxy: PullSummary;
  readonly direct: PullSummary;
  readonly disk: PullSummary;
  /** shoal / proxy, medians. */
  readonly totalRatioToProxy: number;
  readonly cpuRatioToProxy: number | undefined;
  readonly ttfbRatio: number;
  readonly totalRatio: number;
}

function blobDataPath(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(dataDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

export async function waitForFile(path: string, size: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await stat(path).catch(() => undefined);
    if (info?.size === size) return;
    if (Date.now() > deadline) throw new Error(`${path} did not appear with ${size} bytes within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function assertOk(got: TimedGet, size: number, what: string): void {
  if (got.status !== 200) throw new Error(`${what}: status ${got.status}`);
  if (got.bytes !== size) throw new Error(`${what}: ${got.bytes} bytes, expected ${size}`);
}

const fmt = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

const COPY_CHUNK = 512 * 1024;

/**
 * Writes the blob's bytes (read from its file, in the page cache) into a new file at `path`, one
 * 512 KiB write at a time as shoal's writes are, then removes it: the time to put the blob into
 * new page cache on this machine, which bounds a server that serves what it stored (shoal's
 * readers follow its writes). Not fsynced: the client's last byte does not wait for that either.
 */
async function writeCopy(blob: BlobFile, path: string): Promise<PullMeasure> {
  const source = await open(blob.path, 'r');
  const target = await open(path, 'w');
  const chunk = Buffer.allocUnsafe(COPY_CHUNK);
  const started = performance.now();
  try {
    for (let at = 0; at < blob.size; ) {
      const { bytesRead } = await source.read(chunk, 0, Math.min(COPY_CHUNK, blob.size - at), at);
      if (bytesRead === 0) throw new Error(`${blob.path} ended at ${at} of ${blob.size} bytes`);
      for (let done = 0; done < bytesRead; ) done += (await target.write(chunk, done, bytesRead - done, at + done)).bytesWritten;
      at += bytesRead;
    }
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
  const totalMs = performance.now() - started;
  await rm(path, { force: true });
  return { ttfbMs: 0, totalMs, mbPerSec: blob.size / 1e6 / (totalMs / 1000) };
}

/** The seed's bytes sent since `before` over `size`; undefined without /proc. */
function sentSince(before: number | undefined, seedPid: number, size: number): number | undefined {
  const after = bytesWritten(seedPid);
  return before === undefined || after === undefined ? undefined : (after - before) / size;
}

function summarize(measures: readonly PullMeasure[], sizeBytes: number): PullSummary {
  const pick = (f: (m: PullMeasure) => number) => median(measures.map(f));
  const totals = measures.map((m) => m.totalMs);
  const withCpu = measures.length > 0 && measures.every((m) => m.cpu !== undefined);
  const perGiB = withCpu ? measures.map((m) => (m.cpu!.userMs + m.cpu!.systemMs) / 1000 / (sizeBytes / GiB)) : [];
  return {
    medianTtfbMs: pick((m) => m.ttfbMs),
    medianTotalMs: pick((m) => m.totalMs),
    totalMsRange: [Math.min(...totals), Math.max(...totals)],
    medianMbPerSec: pick((m) => m.mbPerSec),
    cpuSecondsPerGiB: withCpu ? spread(perGiB) : undefined,
    medianCpuMs: withCpu ? { user: pick((m) => m.cpu!.userMs), system: pick((m) => m.cpu!.systemMs) } : undefined,
    seedSentOverBlob: spread(measures.map((m) => m.seedSentOverBlob)),
  };
}

/** Median and range of a figure every round has; undefined when one lacks it. */
function spread(values: ReadonlyArray<number | undefined>): { median: number; min: number; max: number } | undefined {
  if (values.length === 0 || values.some((v) => v === undefined)) return undefined;
  const known = values as readonly number[];
  return { median: median(known), min: Math.min(...known), max: Math.max(...known) };
}

export async function pullPhase(options: PullOptions, seed: RunningServer, work: string, blob: BlobFile, warmBlob: BlobFile): Promise<PullPhaseResult> {
  progress(`phase 3/3: pull-through of ${blob.size / MiB} MiB from registry:2 via a cold shoal and a cold registry:2 proxy, ${options.pullRounds} rounds`);
  const rounds: Array<Record<PullPath, PullMeasure>> = [];
  const agent = benchAgent();
  const blobPath = (base: string, b: BlobFile) => `${base}/v2/bench/pull/blobs/${b.digest}`;
  try {
    // The seed answers correctly (and its file is in the page cache) before anything is timed.
    assertOk(await timedGet(blobPath(seed.url, blob), agent, { verifyDigest: blob.digest }), blob.size, 'registry:2 blob GET');
    for (let round = 1; round <= options.pullRounds; round++) {
      const shoalDir = trackTempDir(await mkdtemp(join(work, `shoal-pull-${round}-`)));
      const proxyDir = trackTempDir(await mkdtemp(join(work, `proxy-pull-${round}-`)));
      const servers: RunningServer[] = [];
      try {
        const shoal = await startShoal({
          dataDir: shoalDir,
          upstream: seed.url,
          label: 'shoal (pull-through)',
          ...(options.shoalEntry ? { entry: options.shoalEntry } : {}),
          // No fixed file name: the main thread and the hash worker each write their own profile.
          ...(options.cpuProfDir ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', join(options.cpuProfDir, `pull-${round}`)] } : {}),
        });
        servers.push(shoal);
        const proxy = await startRegistry2({ rootDir: join(proxyDir, 'root'), configDir: proxyDir, label: 'registry:2 (proxy)', proxyRemoteUrl: seed.url });
        servers.push(proxy);
        // A small different blob first through each: a fresh process would otherwise also time
        // its warm-up and its first connection to the seed.
        for (const server of [shoal, proxy]) assertOk(await timedGet(blobPath(server.url, warmBlob), agent, { verifyDigest: warmBlob.digest }), warmBlob.size, `${server.label} warm-up pull`);
        const through = async (server: RunningServer, storeDir: string): Promise<PullMeasure> => {
          const startedAt = Date.now();
          const seedBefore = bytesWritten(seed.pid);
          const before = cpuTimes(server.pid);
          const threadsBefore = server === shoal ? threadCpu(server.pid) : undefined;
          const got = await timedGet(blobPath(server.url, blob), agent);
          assertOk(got, blob.size, `${server.label} pull-through GET`);
          const since = performance.now();
          // Let the fetch verify, fsync and commit before anything else is timed.
          await waitForFile(blobDataPath(storeDir, blob.digest), blob.size, 120_000);
          const cpu = cpuDelta(before, cpuTimes(server.pid));
          const seedSent = sentSince(seedBefore, seed.pid, blob.size);
          const threads = threadCpuDelta(threadsBefore, server === shoal ? threadCpu(server.pid) : undefined);
          // Only the timed pull counts in the profile summary (fanout-profile.ts DIR/pull-N), not the start and the warm-up.
          if (options.cpuProfDir && server === shoal) {
            const dir = join(options.cpuProfDir, `pull-${round}`);
            await mkdir(dir, { recursive: true });
            markWindow(dir, startedAt, Date.now(), new Map([[server.pid, 'shoal']]));
          }
          return { ttfbMs: got.ttfbMs, totalMs: got.totalMs, mbPerSec: got.mbPerSec, commitMs: performance.now() - since, ...(cpu ? { cpu } : {}), ...(threads ? { threads } : {}), ...(seedSent !== undefined ? { seedSentOverBlob: seedSent } : {}) };
        };
        const runs: Record<PullPath, () => Promise<PullMeasure>> = {
          shoal: () => through(shoal, shoalDir),
          proxy: () => through(proxy, join(proxyDir, 'root')),
          direct: async () => {
            const seedBefore = bytesWritten(seed.pid);
            const got = await timedGet(blobPath(seed.url, blob), agent);
            assertOk(got, blob.size, 'registry:2 direct GET');
            const seedSent = sentSince(seedBefore, seed.pid, blob.size);
            return { ttfbMs: got.ttfbMs, totalMs: got.totalMs, mbPerSec: got.mbPerSec, ...(seedSent !== undefined ? { seedSentOverBlob: seedSent } : {}) };
          },
          disk: () => writeCopy(blob, join(work, `disk-${round}`)),
        };
        const paths: PullPath[] = ['shoal', 'proxy', 'direct', 'disk'];
        const order = paths.map((_, i) => paths[(i + round - 1) % paths.length]!);
        const measured = {} as Record<PullPath, PullMeasure>;
        for (const path of order) measured[path] = await runs[path]();
        rounds.push(measured);
        const text = (path: PullPath): string => {
          const m = measured[path];
          const byThread = m.threads ? ` [${Object.entries(m.threads).map(([group, ms]) => `${group} ${ms}`).join(', ')}]` : '';
          const cpu = m.cpu ? `, CPU ${fmt(m.cpu.userMs, 0)}+${fmt(m.cpu.systemMs, 0)} ms${byThread}` : '';
          const commit = m.commitMs !== undefined ? `, committed ${fmt(m.commitMs, 0)} ms later` : '';
          const sent = m.seedSentOverBlob !== undefined ? `, seed sent ${fmt(m.seedSentOverBlob, 2)}× the blob` : '';
          return `${path} ${fmt(m.totalMs, 0)} ms (TTFB ${fmt(m.ttfbMs, 1)} ms, ${fmt(m.mbPerSec, 0)} MB/s${commit}${sent}${cpu})`;
        };
        progress(`  round ${round}/${options.pullRounds}: ${order.map(text).join('; ')}`);
      } finally {
        for (const server of servers) await server.stop();
        await removeTempDir(shoalDir);
        await removeTempDir(proxyDir);
      }
    }
  } finally {
    await agent.close();
  }
  const shoal = summarize(rounds.map((r) => r.shoal), blob.size);
  const proxy = summarize(rounds.map((r) => r.proxy), blob.size);
  const direct = summarize(rounds.map((r) => r.direct), blob.size);
  const disk = summarize(rounds.map((r) => r.disk), blob.size);
  return {
    sizeBytes: blob.size,
    rounds,
    shoal,
    proxy,
    direct,
    disk,
    totalRatioToProxy: shoal.medianTotalMs / proxy.medianTotalMs,
    cpuRatioToProxy: shoal.cpuSecondsPerGiB && proxy.cpuSecondsPerGiB ? shoal.cpuSecondsPerGiB.median / proxy.cpuSecondsPerGiB.median : undefined,
    ttfbRatio: shoal.medianTtfbMs / direct.medianTtfbMs,
    totalRatio: shoal.medianTotalMs / direct.medianTotalMs,
  };
}
