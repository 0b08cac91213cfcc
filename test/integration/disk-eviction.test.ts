import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { blobDataPath } from '../helpers/oci-fixtures.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);
const LAYER = 1_000_000;
const SWARM_ARGS = ['--no-mdns', '--p2p-port', '0', '--peer-port', '0', '--bind-address', '127.0.0.1'];

interface StatusPeer {
  readonly peerId: string;
  readonly blobs: number;
}

async function peersOf(node: ShoalProcess): Promise<StatusPeer[]> {
  const status = (await (await fetch(`${node.url}/_shoal/status`)).json()) as { peers: StatusPeer[] };
  return status.peers;
}

/** What `docker pull` does: the manifest by tag, then every blob (read to the end). */
async function pull(node: ShoalProcess, repository: string, tag: string, image: TestImage): Promise<void> {
  const manifest = await fetch(`${node.url}/v2/${repository}/manifests/${tag}`, { headers: { accept: image.mediaType } });
  assert.equal(manifest.status, 200, `${repository}:${tag}`);
  await manifest.arrayBuffer();
  for (const blob of image.blobs) {
    const res = await fetch(`${node.url}/v2/${repository}/blobs/${blob.digest}`);
    assert.equal(res.status, 200, blob.digest);
    assert.equal(Buffer.from(await res.arrayBuffer()).length, blob.size);
  }
}

// Two real daemons in a swarm on loopback, A with a disk limit. Pulls through A cross the high
// watermark; A evicts the least-recently-used pulled image, keeps the pushed one, withdraws what
// it evicted (B sees A's inventory shrink), and fetches an evicted blob again when asked.
describe('online eviction with --max-disk-usage', () => {
  let seed: SeedRegistry;
  let a: ShoalProcess;
  let b: ShoalProcess;
  const images: TestImage[] = [];

  before(async () => {
    seed = await startSeedRegistry();
    for (let i = 0; i < 3; i++) {
      const image = await makeImage({ layers: [LAYER], seed: `evict-${i}` });
      await pushImage(seed.url, `mirror/img${i}`, 'v1', image);
      images.push(image);
    }
    // high 90% = 2.34 MB, low 80% = 2.08 MB: two 1 MB images fit below the low watermark, three do not.
    a = await startShoal({ swarm: true, upstreams: [seed.url], args: [...SWARM_ARGS, '--max-disk-usage', '2600000', '--disk-high-watermark', '90%', '--disk-low-watermark', '80%'] });
    const started = a.logs().find((line) => line.msg === 'swarm started') as { multiaddrs: string[]; peerId: string } | undefined;
    assert.ok(started, 'A logged its swarm address');
    b = await startShoal({ swarm: true, upstreams: [seed.url], args: [...SWARM_ARGS, '--bootstrap', started.multiaddrs[0]!] });
    await eventually(async () => (await peersOf(b)).some((p) => p.peerId === started.peerId), 15_000, 'B connected to A');
  });

  after(async () => {
    await a?.dispose();
    await b?.dispose();
    await seed?.stop();
    for (const image of images) await image.cleanup();
  });

  test('the least-recently-used pulled image is evicted and withdrawn; the pushed one stays; an evicted blob is fetched again', async () => {
    const [img0, img1, img2] = images as [TestImage, TestImage, TestImage];
    const layerOf = (image: TestImage): string => image.layers[0]!.digest;
    await pull(a, 'mirror/img0', 'v1', img0);
    const pushed = await makeImage({ layers: [LAYER], seed: 'evict-pushed' });
    images.push(pushed);
    await pushImage(a.url, 'team/app', '1', pushed);
    const aPeerId = (a.logs().find((line) => line.msg === 'swarm started') as { peerId: string }).peerId;
    const heldByA = async (): Promise<number> => (await peersOf(b)).find((p) => p.peerId === aPeerId)?.blobs ?? -1;
    await eventually(async () => (await heldByA()) >= 6, 10_000, 'B heard of A\'s blobs');
    const before = await heldByA();

    await pull(a, 'mirror/img1', 'v1', img1);
    await pull(a, 'mirror/img2', 'v1', img2);
    // img1's commit crossed the high watermark: img0's config and layer went (least recently used);
    // img2's did again: img1's went.
    const evictedBlobs = (): number => a.logs().filter((line) => line.msg === 'evicted least-recently-used blobs').reduce((sum, line) => sum + Number(line.evicted), 0);
    await eventually(() => evictedBlobs() === 4, 10_000, 'two evictions of two blobs each');
    for (const image of [img0, img1]) {
      assert.equal(await exists(blobDataPath(a.dataDir, layerOf(image))), false);
      assert.equal(await exists(blobDataPath(a.dataDir, image.config.digest)), false);
    }
    for (const blob of pushed.blobs) assert.ok(await exists(blobDataPath(a.dataDir, blob.digest)), 'pushed blobs stay');
    // Its client had the last byte once the digest was checked; the fsync-rename that commits it
    // may land a moment later on a busy machine.
    await eventually(() => exists(blobDataPath(a.dataDir, layerOf(img2))), 10_000, 'the newest pulled image to be committed, and to stay');
    assert.ok(await exists(blobDataPath(a.dataDir, img0.digest)), 'manifests stay');
    const record = JSON.parse(await readFile(join(a.dataDir, 'shoal', 'pushed.json'), 'utf8')) as { manifests: Array<{ repository: string; tag?: string; digest: string }> };
    assert.deepEqual(record.manifests.map((m) => [m.repository, m.tag, m.digest]), [['team/app', '1', pushed.digest]]);

    // Withdrawn: B no longer counts them among A's blobs.
    await eventually(async () => (await heldByA()) === before + 6 - 4, 10_000, 'B sees A withdraw the 4 evicted blobs');

    // The dangling _layers link is harmless: HEAD answers for what a GET serves (the seed has it), and GET fetches it again.
    const head = await fetch(`${a.url}/v2/mirror/img0/blobs/${layerOf(img0)}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), LAYER);
    assert.equal(await exists(blobDataPath(a.dataDir, layerOf(img0))), false, 'a HEAD fetches nothing');
    const seedGets = await seed.blobGets(layerOf(img0));
    const again = await fetch(`${a.url}/v2/mirror/img0/blobs/${layerOf(img0)}`);
    assert.equal(again.status, 200);
    assert.equal(Buffer.from(await again.arrayBuffer()).length, LAYER);
    // From the seed, or from B: B may keep the piece it fetched for A as its owner (a piece cache).
    const fetches = () => a.logs().filter((line) => line.msg === 'blob fetched and verified' && line.digest === layerOf(img0));
    await eventually(() => fetches().length === 2, 5_000, 'fetched anew (once before the eviction, once now)');
    const fetchedAgain = fetches();
    assert.ok((await seed.blobGets(layerOf(img0))) > seedGets || Number(fetchedAgain[1]!.fromPeers) === LAYER, 'from the seed or a peer');
    await eventually(async () => exists(blobDataPath(a.dataDir, layerOf(img0))), 5000, 'stored again');
    const pulled = await fetch(`${a.url}/v2/team/app/manifests/1`, { headers: { accept: pushed.mediaType } });
    assert.equal(pulled.status, 200);
  });
});
