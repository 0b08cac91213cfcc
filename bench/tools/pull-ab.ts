// A/B of the cold pull-through between two builds of shoal, interleaved in one run: each round
// starts a fresh shoal of each build and a fresh registry:2 in proxy mode in front of the same
// seed, pulls the blob through each (the order turns round by round), and prints wall time and
// server CPU. On a machine shared with other jobs only same-round ratios mean much. Build both
// trees first (`npm run build`): bin/shoal.js runs the bundle only when it was made from its
// sources, else the sources themselves, and a bundle against sources is not the same daemon.
//
//   node bench/tools/pull-ab.ts --a /path/to/other/bin/shoal.js [--b bin/shoal.js] [--mib 512] [--rounds 6] [--recycle-pages] [--a-plain]
//
// --a-plain: A runs without the daemon's deployed V8 flags and malloc settings (runtime-flags.ts),
// B with them (both do by default): with --a and --b the same entry, an A/B of those settings.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { mkdtemp, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../lib/args.ts';
import { cleanupAll, removeTempDir, trackTempDir } from '../lib/cleanup.ts';
import { benchAgent, median, progress, timedGet } from '../lib/http-get.ts';
import { cpuDelta, cpuTimes } from '../lib/proc-cpu.ts';
import { pushBlob, pushImage } from '../lib/push.ts';
import { writeRandomFile } from '../lib/random-file.ts';
import { REPO_ROOT, startRegistry2, startShoal, type RunningServer } from '../lib/servers.ts';

const MiB = 1024 * 1024;
const flags = parseFlags(process.argv.slice(2), { switches: ['recycle-pages', 'a-plain'], values: ['a', 'b', 'mib', 'rounds'], optional: [] });
const entries = { A: String(flags.get('a') ?? ''), B: String(flags.get('b') ?? join(REPO_ROOT, 'bin', 'shoal.js')) };
if (!entries.A) throw new Error('--a <entry of the other build> is required');
const size = Number(flags.get('mib') ?? 512) * MiB;
const rounds = Number(flags.get('rounds') ?? 6);
const recycle = flags.get('recycle-pages') === true;

const blobData = (dir: string, digest: string): string => join(dir, 'docker', 'registry', 'v2', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data');

async function committed(path: string): Promise<void> {
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
    if ((await stat(path).catch(() => undefined))?.size === size) return;
  }
  throw new Error(`${path} was not committed`);
}

/**
 * Writes and removes a file a little larger than the blob, so the pull's writes get page-cache
 * pages freed a moment ago. On this VM pages the guest freed a while ago cost 4–10× as much to
 * write into again (512 MiB: 0.1 s of system CPU on recycled pages, 0.4–1.1 s on others; most
 * likely the host takes back free pages and faults them in again), and which pull got which
 * decided the round more than shoal did.
 */
function recyclePages(path: string): void {
  const chunk = Buffer.alloc(4 * MiB, 1);
  const fd = openSync(path, 'w');
  for (let at = 0; at < size + 128 * MiB; at += chunk.length) writeSync(fd, chunk, 0, chunk.length, at);
  closeSync(fd);
  unlinkSync(path);
}

type Path = 'A' | 'B' | 'proxy';
const ORDERS: ReadonlyArray<readonly Path[]> = [['A', 'B', 'proxy'], ['B', 'A', 'proxy'], ['proxy', 'A', 'B'], ['proxy', 'B', 'A'], ['A', 'proxy', 'B'], ['B', 'proxy', 'A']];
const work = trackTempDir(await mkdtemp(join(tmpdir(), 'shoal-pull-ab-')));
const agent = benchAgent();
const results: Array<Record<Path, { ms: number; cpuMs: number }>> = [];
try {
  const blob = await writeRandomFile(join(work, 'pull'), size);
  const warm = await writeRandomFile(join(work, 'warm'), MiB);
  const seed = await startRegistry2({ rootDir: join(work, 'seed'), configDir: work });
  await pushImage(seed.url, 'bench/pull', 'latest', [blob], { monolithicPost: false });
  await pushBlob(seed.url, 'bench/pull', warm.digest, { file: warm }, { monolithicPost: false });
  execFileSync('sync');
  const url = (base: string, digest: string): string => `${base}/v2/bench/pull/blobs/${digest}`;
  await timedGet(url(seed.url, blob.digest), agent);
  for (let round = 0; round < rounds; round++) {
    const dirs: Record<Path, string> = { A: '', B: '', proxy: '' };
    const servers = {} as Record<Path, RunningServer>;
    for (const path of ['A', 'B', 'proxy'] as const) {
      dirs[path] = trackTempDir(await mkdtemp(join(work, `${path}-${round}-`)));
      servers[path] =
        path === 'proxy'
          ? await startRegistry2({ rootDir: join(dirs.proxy, 'root'), configDir: dirs.proxy, label: 'proxy', proxyRemoteUrl: seed.url })
          : await startShoal({ dataDir: dirs[path], upstream: seed.url, label: `shoal ${path}`, entry: entries[path], plainRuntime: path === 'A' && flags.get('a-plain') === true });
      await timedGet(url(servers[path].url, warm.digest), agent);
    }
    // A before B in half the rounds: the second shoal of a round was up to 1.8× slower than the
    // first, whichever build it was (its page-cache writes cost several times the CPU).
    const order = ORDERS[round % ORDERS.length]!;
    const row = {} as Record<Path, { ms: number; cpuMs: number }>;
    for (const path of order) {
      const server = servers[path];
      if (recycle) recyclePages(join(work, 'scratch'));
      const before = cpuTimes(server.pid);
      const got = await timedGet(url(server.url, blob.digest), agent);
      if (got.status !== 200 || got.bytes !== size) throw new Error(`${path}: status ${got.status}, ${got.bytes} bytes`);
      await committed(blobData(path === 'proxy' ? join(dirs.proxy, 'root') : dirs[path], blob.digest));
      const cpu = cpuDelta(before, cpuTimes(server.pid));
      row[path] = { ms: got.totalMs, cpuMs: cpu ? cpu.userMs + cpu.systemMs : Number.NaN };
    }
    results.push(row);
    progress(`round ${round + 1}/${rounds} (load ${loadavg()[0]!.toFixed(1)}): ${order.map((p) => `${p} ${row[p].ms.toFixed(0)} ms CPU ${row[p].cpuMs.toFixed(0)}`).join('; ')}; B/A ${(row.B.ms / row.A.ms).toFixed(2)}`);
    for (const server of Object.values(servers)) await server.stop();
    for (const dir of Object.values(dirs)) await removeTempDir(dir);
  }
} finally {
  await agent.close();
  await cleanupAll();
}
const med = (f: (r: Record<Path, { ms: number; cpuMs: number }>) => number): string => median(results.map(f)).toFixed(2);
process.stdout.write(
  `${size / MiB} MiB, ${rounds} rounds, medians of per-round ratios: wall B/A ${med((r) => r.B.ms / r.A.ms)}, A/proxy ${med((r) => r.A.ms / r.proxy.ms)}, B/proxy ${med((r) => r.B.ms / r.proxy.ms)}; ` +
    `CPU B/A ${med((r) => r.B.cpuMs / r.A.cpuMs)}, A/proxy ${med((r) => r.A.cpuMs / r.proxy.cpuMs)}, B/proxy ${med((r) => r.B.cpuMs / r.proxy.cpuMs)}\n`,
);
