// What the cluster key's TLS costs on the peer data plane (issue 10, item 3): one shoal node
// (a real `shoal serve` child, swarm on, loopback only) holds a 512 MiB blob; this process is the
// other node's data-plane client (the PeerClient the fetch engine uses) and pulls the blob from
// the node's peer port as the piece engine does: 4 MiB pieces, 2 at a time per peer. Once plain
// HTTP (open swarm), once TLS keyed by a cluster key; runs alternate, medians reported.
// Bytes are counted and dropped on the client (no disk, no sha256) so only the transport differs.
//
//   node bench/peer-tls.bench.ts [--size-mib 512] [--runs 3]
//
// Progress on stderr, the table on stdout, JSON in bench/results/peer-tls-<time>.json and -latest.json.
import { join } from 'node:path';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { PeerClient } from '../src/distribute/peer-client.ts';
import { DEFAULT_PIECE_SIZE } from '../src/distribute/piece-size.ts';
import { DEFAULT_MAX_PER_PEER } from '../src/distribute/piece-limits.ts';
import { parseDigest } from '../src/oci/index.ts';
import { generateClusterKey, loadClusterKey, peerTlsClientOptions } from '../src/swarm/index.ts';
import { cleanupAll, trackTempDir } from './lib/cleanup.ts';
import { fmt, median, MiB, progress, table } from './lib/fanout-report.ts';
import { cpuTimes } from './lib/proc-cpu.ts';
import { pushBlob } from './lib/push.ts';
import { writeRandomFile, type BlobFile } from './lib/random-file.ts';
import { buildDaemon, freePort, nodeBinary, REPO_ROOT, spawnServer, type RunningServer } from './lib/servers.ts';

const { values: flags } = parseArgs({ options: { 'size-mib': { type: 'string', default: '512' }, runs: { type: 'string', default: '3' } } });
const SIZE = Number(flags['size-mib']) * MiB;
const RUNS = Number(flags.runs);
const GiB = 1024 * MiB;

interface Run {
  readonly seconds: number;
  readonly clientCpuS: number;
  readonly serverCpuS: number;
}

async function startNode(dataDir: string, keyFile: string | undefined): Promise<{ server: RunningServer; peerUrl: string }> {
  const port = await freePort();
  const peerPort = await freePort();
  const args = [
    join(REPO_ROOT, 'bin', 'shoal.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'warn',
    '--bind-address', '127.0.0.1', '--p2p-port', '0', '--peer-port', String(peerPort), '--no-mdns',
    ...(keyFile ? ['--cluster-key', keyFile] : []),
  ];
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('SHOAL_')) env[key] = value;
  const server = await spawnServer({ label: keyFile ? 'shoal (keyed)' : 'shoal (open)', command: nodeBinary(), args, port, env });
  return { server, peerUrl: `${keyFile ? 'https' : 'http'}://127.0.0.1:${peerPort}` };
}

/** Pulls the whole blob in pieces, DEFAULT_MAX_PER_PEER at a time, and times it. */
async function pull(client: PeerClient, peerUrl: string, blob: BlobFile, pid: number): Promise<Run> {
  const digest = parseDigest(blob.digest);
  const pieces = Math.ceil(blob.size / DEFAULT_PIECE_SIZE);
  let next = 0;
  let bytes = 0;
  const serverBefore = cpuTimes(pid)!;
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < pieces) {
      const index = next++;
      const start = index * DEFAULT_PIECE_SIZE;
      const end = Math.min(blob.size, start + DEFAULT_PIECE_SIZE) - 1;
      for await (const chunk of await client.fetchRange(peerUrl, digest, { start, end })) bytes += (chunk as Buffer).byteLength;
    }
  };
  await Promise.all(Array.from({ length: DEFAULT_MAX_PER_PEER }, worker));
  const seconds = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(clientBefore);
  const serverAfter = cpuTimes(pid)!;
  if (bytes !== blob.size) throw new Error(`pulled ${bytes} of ${blob.size} bytes`);
  return {
    seconds,
    clientCpuS: (clientCpu.user + clientCpu.system) / 1e6,
    serverCpuS: (serverAfter.userMs + serverAfter.systemMs - serverBefore.userMs - serverBefore.systemMs) / 1000,
  };
}

async function main(): Promise<void> {
  buildDaemon();
  const work = trackTempDir(await mkdtemp(join(tmpdir(), 'shoal-peer-tls-bench-')));
  const keyFile = join(work, 'cluster.key');
  await writeFile(keyFile, generateClusterKey(), { mode: 0o600 });
  progress(`writing a ${SIZE / MiB} MiB random blob`);
  const blob = await writeRandomFile(join(work, 'blob'), SIZE);
  const modes = { open: undefined, keyed: keyFile } as const;
  const nodes: Record<string, { server: RunningServer; peerUrl: string; client: PeerClient }> = {};
  for (const [mode, key] of Object.entries(modes)) {
    const dataDir = join(work, mode);
    await mkdir(dataDir);
    const node = await startNode(dataDir, key);
    progress(`${mode}: pushing the blob to ${node.server.url}`);
    await pushBlob(node.server.url, 'bench/peer', blob.digest, { file: blob });
    const tls = key ? { tls: peerTlsClientOptions(await loadClusterKey(key)) } : {};
    nodes[mode] = { ...node, client: new PeerClient({ ...tls, timeoutMs: 30_000, idleMs: 30_000 }) };
  }
  const runs: Record<string, Run[]> = { open: [], keyed: [] };
  // One warm-up pull each (connections, page cache), then alternating measured runs.
  for (const mode of Object.keys(modes)) await pull(nodes[mode]!.client, nodes[mode]!.peerUrl, blob, nodes[mode]!.server.pid);
  for (let i = 0; i < RUNS; i++) {
    for (const mode of i % 2 === 0 ? ['open', 'keyed'] : ['keyed', 'open']) {
      const node = nodes[mode]!;
      const run = await pull(node.client, node.peerUrl, blob, node.server.pid);
      runs[mode]!.push(run);
      progress(`${mode} run ${i + 1}: ${fmt(SIZE / 1e6 / run.seconds, 0)} MB/s, client ${fmt(run.clientCpuS)} CPU-s, server ${fmt(run.serverCpuS)} CPU-s`);
    }
  }
  const summary = Object.fromEntries(Object.entries(runs).map(([mode, list]) => {
    const seconds = median(list.map((r) => r.seconds));
    const cpuPerGiB = median(list.map((r) => (r.clientCpuS + r.serverCpuS) / (SIZE / GiB)));
    return [mode, {
      mbPerS: SIZE / 1e6 / seconds,
      cpuSPerGiB: cpuPerGiB,
      clientCpuSPerGiB: median(list.map((r) => r.clientCpuS / (SIZE / GiB))),
      serverCpuSPerGiB: median(list.map((r) => r.serverCpuS / (SIZE / GiB))),
    }];
  })) as Record<'open' | 'keyed', { mbPerS: number; cpuSPerGiB: number; clientCpuSPerGiB: number; serverCpuSPerGiB: number }>;
  const ratio = { throughput: summary.keyed.mbPerS / summary.open.mbPerS, cpu: summary.keyed.cpuSPerGiB / summary.open.cpuSPerGiB };
  process.stdout.write(`\npeer data plane, ${SIZE / MiB} MiB blob, ${DEFAULT_PIECE_SIZE / MiB} MiB pieces x${DEFAULT_MAX_PER_PEER}, median of ${RUNS}\n\n`);
  process.stdout.write(`${table([
    ['mode', 'MB/s', 'CPU-s/GiB (both ends)', 'client', 'server'],
    ...(['open', 'keyed'] as const).map((mode) => [mode === 'open' ? 'plain HTTP (no key)' : 'TLS-PSK (cluster key)', fmt(summary[mode].mbPerS, 0), fmt(summary[mode].cpuSPerGiB), fmt(summary[mode].clientCpuSPerGiB), fmt(summary[mode].serverCpuSPerGiB)]),
    ['keyed / open', fmt(ratio.throughput), fmt(ratio.cpu), '', ''],
  ])}\n`);
  const dir = join(REPO_ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const json = `${JSON.stringify({ bench: 'peer-tls', sizeBytes: SIZE, pieceBytes: DEFAULT_PIECE_SIZE, perPeer: DEFAULT_MAX_PER_PEER, runs, summary, ratio }, null, 2)}\n`;
  await writeFile(join(dir, `peer-tls-${stamp}.json`), json);
  await writeFile(join(dir, 'peer-tls-latest.json'), json);
  process.stdout.write(`\nJSON: ${join(dir, `peer-tls-${stamp}.json`)}\n`);
  for (const node of Object.values(nodes)) await node.client.close();
}

try {
  await main();
} finally {
  await cleanupAll();
}
