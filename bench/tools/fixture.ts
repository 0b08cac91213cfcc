// Starts registry:2 and a standalone shoal holding the benchmark's data and keeps them up until
// SIGINT/SIGTERM, for poking at by hand (curl, autocannon, perf, --cpu-prof):
//   node bench/tools/fixture.ts [--blob-mib 512] [--shoal-node-args "--cpu-prof --cpu-prof-dir /tmp/p"]
// Prints one JSON line on stdout: the URLs, pids, blob digest and paths.
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, trackTempDir } from '../lib/cleanup.ts';
import { progress } from '../lib/http-get.ts';
import { pushImage } from '../lib/push.ts';
import { writeRandomFile } from '../lib/random-file.ts';
import { startRegistry2, startShoal } from '../lib/servers.ts';

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const blobBytes = Number(arg('blob-mib') ?? 512) * 1024 * 1024;
const nodeArgs = (arg('shoal-node-args') ?? '').split(' ').filter(Boolean);

const work = trackTempDir(await mkdtemp(join(tmpdir(), 'shoal-fixture-')));
try {
  await mkdir(join(work, 'files'));
  const big = await writeRandomFile(join(work, 'files', 'big'), blobBytes);
  const small = await writeRandomFile(join(work, 'files', 'small'), 4096);
  const registry = await startRegistry2({ rootDir: join(work, 'registry2'), configDir: work });
  const shoal = await startShoal({ dataDir: join(work, 'shoal'), nodeArgs });
  await pushImage(shoal.url, 'bench/big', 'latest', [big]);
  await pushImage(registry.url, 'bench/big', 'latest', [big], { monolithicPost: false });
  const app = await pushImage(shoal.url, 'bench/app', 'v1', [small]);
  await pushImage(registry.url, 'bench/app', 'v1', [small], { monolithicPost: false });
  process.stdout.write(`${JSON.stringify({
    registry: { url: registry.url, pid: registry.pid },
    shoal: { url: shoal.url, pid: shoal.pid },
    blob: { digest: big.digest, size: big.size, path: big.path, url: `/v2/bench/big/blobs/${big.digest}` },
    manifest: { digest: app.manifestDigest, url: '/v2/bench/app/manifests/v1' },
    work,
  })}\n`);
  progress('fixture up; SIGINT or SIGTERM to stop');
  await new Promise(() => {}); // until a signal; cleanup.ts stops the servers and exits
} catch (error) {
  await cleanupAll();
  throw error;
}
