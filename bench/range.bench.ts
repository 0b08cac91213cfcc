// Range-first lazy pulls: time to first byte of small Range GETs of a cold blob through shoal vs
// straight from the seed (Debian's docker-registry), on loopback. One shoal (no swarm) per mode:
//   - range-only: every range falls in a piece not read before, so each is a cold read;
//   - fetch-all: a fresh daemon (empty data dir) per range, since the first read pulls the rest;
//     each first reads a range of a small other blob, then all of it (so its code and its
//     connection to the seed are warm, as in a daemon that has served before).
// Each sample first GETs the manifest through shoal, as a lazy-pulling snapshotter does (so the
// blob's size is known), then the range through shoal, then the same range from the seed.
// Progress on stderr, the table on stdout, JSON in bench/results/range-<time>.json and range-latest.json.
//
//   node bench/range.bench.ts [--blob-mib 256] [--ranges 8] [--range-bytes 1000] [--piece-mib 4] [--modes range-only,fetch-all]
// A range's piece is fetched from the range's 64 KiB block on (its head after), so TTFB should not
// grow with the range's offset inside its piece; --piece-mib checks that.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cleanupAll, trackTempDir } from './lib/cleanup.ts';
import { benchAgent, median, progress, timedGet } from './lib/http-get.ts';
import { pushImage } from './lib/push.ts';
import { writeRandomFile } from './lib/random-file.ts';
import { REPO_ROOT, buildDaemon, freePort, nodeBinary, spawnServer, startRegistry2, type RunningServer } from './lib/servers.ts';
import { fmt, table } from './lib/fanout-report.ts';

const MiB = 1024 * 1024;
const REPO = 'bench/lazy';
const WARM_REPO = 'bench/warm';
const GOAL_RATIO = 2;

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

async function startShoal(dataDir: string, upstream: string, mode: string, pieceBytes: number): Promise<RunningServer> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('SHOAL_')) env[key] = value;
  const args = [join(REPO_ROOT, 'bin', 'shoal.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'warn', '--no-swarm', '--upstream', upstream, '--range-fetch', mode, '--piece-size', String(pieceBytes)];
  return spawnServer({ label: `shoal ${mode}`, command: nodeBinary(), args, port, env });
}

interface Sample {
  readonly mode: string;
  readonly start: number;
  readonly end: number;
  readonly shoalTtfbMs: number;
  readonly seedTtfbMs: number;
  readonly ratio: number;
}

/** A range of `bytes` starting in piece `piece` (a random offset inside it). */
function rangeIn(piece: number, pieceBytes: number, size: number, bytes: number): { start: number; end: number } {
  const start = Math.min(piece * pieceBytes + randomInt(0, pieceBytes), size - bytes);
  return { start, end: start + bytes - 1 };
}

async function sample(mode: string, shoal: RunningServer, seed: RunningServer, digest: string, range: { start: number; end: number }, dispatcher: ReturnType<typeof benchAgent>): Promise<Sample> {
  const manifest = await timedGet(`${shoal.url}/v2/${REPO}/manifests/1`, dispatcher, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  if (manifest.status !== 200) throw new Error(`manifest through shoal: ${manifest.status}`);
  const headers = { range: `bytes=${range.start}-${range.end}` };
  const viaShoal = await timedGet(`${shoal.url}/v2/${REPO}/blobs/${digest}`, dispatcher, { headers });
  const direct = await timedGet(`${seed.url}/v2/${REPO}/blobs/${digest}`, dispatcher, { headers });
  if (viaShoal.status !== 206 || direct.status !== 206) throw new Error(`range ${headers.range}: shoal ${viaShoal.status}, seed ${direct.status}`);
  return { mode, ...range, shoalTtfbMs: viaShoal.ttfbMs, seedTtfbMs: direct.ttfbMs, ratio: viaShoal.ttfbMs / direct.ttfbMs };
}

/** A range of a small blob (range-first, then the whole blob fetched), then all of it: the range path and the seed connection are warm. */
async function warmUp(shoal: RunningServer, digest: string, dispatcher: ReturnType<typeof benchAgent>): Promise<void> {
  const manifest = await timedGet(`${shoal.url}/v2/${WARM_REPO}/manifests/1`, dispatcher, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const range = await timedGet(`${shoal.url}/v2/${WARM_REPO}/blobs/${digest}`, dispatcher, { headers: { range: 'bytes=5000000-5000999' } });
  const whole = await timedGet(`${shoal.url}/v2/${WARM_REPO}/blobs/${digest}`, dispatcher, { verifyDigest: digest });
  if (manifest.status !== 200 || range.status !== 206 || whole.status !== 200) throw new Error(`warm-up: manifest ${manifest.status}, range ${range.status}, blob ${whole.status}`);
}

async function main(): Promise<void> {
  buildDaemon();
  const blobMib = option('blob-mib', 256);
  const ranges = option('ranges', 8);
  const rangeBytes = option('range-bytes', 1000);
  const PIECE = option('piece-mib', 4) * MiB;
  const at = process.argv.indexOf('--modes');
  const modes = at < 0 ? ['range-only', 'fetch-all'] : (process.argv[at + 1] ?? '').split(',');
  if (modes.some((m) => m !== 'range-only' && m !== 'fetch-all')) throw new Error('--modes takes range-only and/or fetch-all, comma-separated');
  const work = trackTempDir(await mkdtemp(join(tmpdir(), 'shoal-range-bench-')));
  const dispatcher = benchAgent();
  const samples: Sample[] = [];
  try {
    progress(`writing a ${blobMib} MiB blob`);
    const blob = await writeRandomFile(join(work, 'layer'), blobMib * MiB);
    const seed = await startRegistry2({ rootDir: join(work, 'seed'), configDir: join(work, 'seed-config'), label: 'seed' });
    await pushImage(seed.url, REPO, '1', [blob], { monolithicPost: false });
    const warm = await writeRandomFile(join(work, 'warm'), 8 * MiB);
    await pushImage(seed.url, WARM_REPO, '1', [warm], { monolithicPost: false });
    const pieces = Math.ceil(blob.size / PIECE);
    // Distinct pieces, so no read finds its piece already fetched.
    const order = Array.from({ length: pieces }, (_, i) => i).sort(() => Math.random() - 0.5).slice(0, ranges);

    if (modes.includes('range-only')) {
      progress('range-only: one daemon, a cold piece per range');
      const lazy = await startShoal(join(work, 'range-only'), seed.url, 'range-only', PIECE);
      try {
        for (const piece of order) samples.push(await sample('range-only', lazy, seed, blob.digest, rangeIn(piece, PIECE, blob.size, rangeBytes), dispatcher));
      } finally {
        await lazy.stop();
      }
    }
    if (modes.includes('fetch-all')) progress('fetch-all: a fresh daemon per range');
    for (const [i, piece] of (modes.includes('fetch-all') ? order : []).entries()) {
      const daemon = await startShoal(join(work, `fetch-all-${i}`), seed.url, 'fetch-all', PIECE);
      try {
        await warmUp(daemon, warm.digest, dispatcher);
        execFileSync('sync');
        samples.push(await sample('fetch-all', daemon, seed, blob.digest, rangeIn(piece, PIECE, blob.size, rangeBytes), dispatcher));
      } finally {
        await daemon.stop();
        await rm(join(work, `fetch-all-${i}`), { recursive: true, force: true });
        // The 256 MiB this daemon wrote are still being written back: the next daemon's first
        // writes would wait for that (dirty-page throttling), a leftover of this sample.
        execFileSync('sync');
      }
    }
    await seed.stop();

    const summary = modes.map((mode) => {
      const of = samples.filter((s) => s.mode === mode);
      return { mode, n: of.length, shoalMedianMs: median(of.map((s) => s.shoalTtfbMs)), seedMedianMs: median(of.map((s) => s.seedTtfbMs)), ratioMedian: median(of.map((s) => s.ratio)), ratioMax: Math.max(...of.map((s) => s.ratio)) };
    });
    const out: string[] = [];
    out.push(`\nRange-first reads: ${ranges} Range GETs of ${rangeBytes} bytes each over a cold ${blobMib} MiB blob, pieces of ${PIECE / MiB} MiB, loopback, seed docker-registry; TTFB in ms`);
    out.push(table([
      ['mode', 'range', 'shoal TTFB', 'seed TTFB', 'ratio'],
      ...samples.map((s) => [s.mode, `${s.start}-${s.end}`, fmt(s.shoalTtfbMs, 1), fmt(s.seedTtfbMs, 1), fmt(s.ratio)]),
    ]));
    out.push('');
    out.push(table([
      ['mode', 'n', 'shoal median', 'seed median', 'ratio median', 'ratio max', 'goal'],
      ...summary.map((s) => [s.mode, String(s.n), fmt(s.shoalMedianMs, 1), fmt(s.seedMedianMs, 1), fmt(s.ratioMedian), fmt(s.ratioMax), `≤ ${GOAL_RATIO}`]),
    ]));
    process.stdout.write(`${out.join('\n')}\n`);
    const result = { benchmark: 'range', time: new Date().toISOString(), commit: gitCommit(), options: { blobMib, ranges, rangeBytes, pieceBytes: PIECE }, goalRatio: GOAL_RATIO, summary, samples };
    const dir = join(REPO_ROOT, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `range-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    const json = `${JSON.stringify(result, null, 2)}\n`;
    await writeFile(file, json);
    await writeFile(join(dir, 'range-latest.json'), json);
    process.stdout.write(`\nJSON: ${file}\n`);
  } finally {
    await dispatcher.close();
    await cleanupAll();
  }
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`range benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
