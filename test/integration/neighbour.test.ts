// A good neighbour, measured from outside on namespace hosts with unshaped links and a real
// docker-registry seed: the upload cap of the only holder holds at the receiver while its local
// clients are served from disk at full speed; Range reads of a cold 256 MiB blob in range-only
// mode make the seed send no more than the pieces they touch (its access log says), on one node
// and across hosts, each piece from the range on first and its head after. Needs root, iproute2, curl, skopeo and docker-registry (fails, never skips).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster, type ClusterNode } from '../helpers/cluster.ts';
import { eventually } from '../helpers/eventually.ts';
import { makeImage } from '../helpers/images.ts';
import { rangeFillStart } from '../../src/distribute/range-first.ts';

const MiB = 1024 * 1024;
const PIECE = 4 * MiB;
const CAP_MBIT = 50;

/** curl inside the host: status, seconds to first byte and in all, bytes; the body goes to `out`. */
async function timedGet(node: ClusterNode, url: string, out: string, range?: string): Promise<{ status: number; ttfb: number; total: number; bytes: number }> {
  const args = ['-s', '-o', out, '-w', '%{http_code} %{time_starttransfer} %{time_total} %{size_download}', ...(range ? ['-r', range] : []), url];
  const result = await node.exec('curl', args);
  const [status, ttfb, total, bytes] = result.stdout.trim().split(' ').map(Number);
  return { status: status!, ttfb: ttfb!, total: total!, bytes: bytes! };
}

async function slice(path: string, start: number, end: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(end - start + 1);
    await handle.read(buffer, 0, buffer.length, start);
    return buffer;
  } finally {
    await handle.close();
  }
}

describe('a good neighbour on namespace hosts', { timeout: 600_000 }, () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'shoal-neighbour-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test(`a ${CAP_MBIT} Mbit/s upload cap on the only holder holds at the receiver; its local client is served from disk at full speed`, async (t) => {
    const image = await makeImage({ layers: [48 * MiB], seed: 'neighbour-cap' });
    let cluster: Cluster | undefined;
    try {
      cluster = await startCluster({ hosts: ['h1'], seed: { images: [{ repo: 'capped', tag: '1', image }] }, nodeArgs: { h1: ['--upload-rate', `${CAP_MBIT}Mbit`] } });
      const h1 = cluster.node('h1');
      await h1.pull('capped:1');
      // Nothing else holds it: h2 joins after h1 has the blob, so every byte comes from h1.
      const h2 = await cluster.addNode('h2');
      const layer = image.layers[0]!;
      const before = await h2.figures();
      const pulling = h2.pull('capped:1', { timeoutMs: 180_000 });
      // While the cap is busy, h1's own client reads the blob from disk.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const local = await timedGet(h1, `http://127.0.0.1:5000/v2/capped/blobs/${layer.digest}`, join(work, 'local'));
      const pulled = await pulling;
      const after = await h2.figures();
      const received = after.peerReceivedBytes - before.peerReceivedBytes;
      assert.equal(after.seedBytes - before.seedBytes, 0, 'h2 got nothing from the seed');
      assert.ok(received >= layer.size, `h2 received ${received} bytes from its peer`);
      const mbit = (received * 8) / 1e6 / (pulled.ms / 1000);
      const status = JSON.parse((await h1.curl('http://127.0.0.1:5000/_shoal/status')).body) as { neighbour: { caps: { upload: { limit: number } } } };
      assert.equal(status.neighbour.caps.upload.limit, (CAP_MBIT * 1e6) / 8, 'the status shows the cap');
      // A cap is an upper bound: a busy machine only makes the transfer slower than it.
      assert.ok(mbit <= CAP_MBIT * 1.1, `received at ${mbit.toFixed(1)} Mbit/s over ${(pulled.ms / 1000).toFixed(1)} s; cap ${CAP_MBIT}`);
      assert.ok(mbit >= CAP_MBIT * 0.5, `received at ${mbit.toFixed(1)} Mbit/s: far below the cap of ${CAP_MBIT}`);
      t.diagnostic(`received at ${mbit.toFixed(1)} Mbit/s (cap ${CAP_MBIT}) over ${(pulled.ms / 1000).toFixed(1)} s; h1's local GET meanwhile ${((local.bytes * 8) / 1e6 / local.total).toFixed(0)} Mbit/s`);
      assert.equal(local.status, 200);
      assert.equal(local.bytes, layer.size);
      const localMbit = (local.bytes * 8) / 1e6 / local.total;
      assert.ok(localMbit >= CAP_MBIT * 2, `h1's local client got ${localMbit.toFixed(0)} Mbit/s: the upload cap must not touch it`);
    } finally {
      await cluster?.dispose();
      await image.cleanup();
    }
  });

  test('range-only: random small ranges of a cold 256 MiB blob, on one node and across hosts: the seed sends at most the pieces they touch', async (t) => {
    const image = await makeImage({ layers: [256 * MiB], seed: 'neighbour-range' });
    let cluster: Cluster | undefined;
    try {
      cluster = await startCluster({ hosts: 3, seed: { images: [{ repo: 'lazy', tag: '1', image }] }, shoalArgs: ['--range-fetch', 'range-only'] });
      const layer = image.layers[0]!;
      assert.ok(layer.path, 'the 256 MiB layer is file-backed');
      cluster.seed!.clearLog();
      const touched = new Set<number>();
      const read = async (node: ClusterNode, i: number, start = randomInt(0, layer.size - 70_000)): Promise<void> => {
        const end = start + randomInt(1, 65_536);
        for (let p = Math.floor(start / PIECE); p <= Math.floor(end / PIECE); p++) touched.add(p);
        const out = join(work, `range-${i}`);
        const got = await timedGet(node, `http://127.0.0.1:5000/v2/lazy/blobs/${layer.digest}`, out, `${start}-${end}`);
        assert.equal(got.status, 206, `${node.name} bytes=${start}-${end}`);
        assert.ok((await readFile(out)).equals(await slice(layer.path!, start, end)), `${node.name} bytes=${start}-${end} are the blob's`);
      };
      // One node first, each range inside a piece of its own and past the piece's first 64 KiB;
      // then all three nodes at once, anywhere.
      const pieces = Array.from({ length: layer.size / PIECE }, (_, p) => p).sort(() => Math.random() - 0.5).slice(0, 5);
      const starts = pieces.map((p) => p * PIECE + randomInt(65_536 * 2, PIECE - 70_000));
      for (const [i, start] of starts.entries()) await read(cluster.node('h1'), i, start);
      // The access log gives each GET's bytes (not its Range): the piece's owner asked for the
      // piece from the range's 64 KiB block to its end first, then for the head before it.
      for (const start of starts) {
        const pieceStart = Math.floor(start / PIECE) * PIECE;
        const tail = pieceStart + PIECE - rangeFillStart(start);
        const head = rangeFillStart(start) - pieceStart;
        await eventually(async () => {
          const sizes = (await cluster!.seed!.blobGets({ digests: [layer.digest] })).map((r) => r.bytes);
          return sizes.includes(tail) && sizes.includes(head);
        }, 30_000, `the seed to serve the piece of the range at ${start} as ${tail} bytes from the range on and ${head} bytes of its head`);
      }
      const oneNode = await cluster.seed!.blobBytesServed({ digests: [layer.digest] });
      assert.ok(oneNode <= touched.size * PIECE, `one node: the seed sent ${oneNode} bytes for ${touched.size} pieces touched`);
      await Promise.all(cluster.nodes.flatMap((node, n) => [0, 1, 2].map((k) => read(node, 10 + n * 3 + k))));
      const served = await cluster.seed!.blobBytesServed({ digests: [layer.digest] });
      assert.ok(served <= touched.size * PIECE, `across hosts: the seed sent ${served} bytes for ${touched.size} pieces touched`);
      assert.ok(served < layer.size / 4, 'far less than the blob');
      t.diagnostic(`seed sent ${(served / MiB).toFixed(1)} MiB for ${touched.size} pieces touched (${((touched.size * PIECE) / MiB).toFixed(0)} MiB); one node alone: ${(oneNode / MiB).toFixed(1)} MiB`);
      for (const node of cluster.nodes) assert.equal(await node.storedDigest(layer.digest), undefined, `${node.name} stores nothing in range-only`);
    } finally {
      await cluster?.dispose();
      await image.cleanup();
    }
  });
});

