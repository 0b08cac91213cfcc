// A node with bandwidth caps (seed-rate, download-rate) pulling through from docker-registry: the
// capped path hands the seed's write batches through the rate limiter, where a batch once went back
// to the pool while it was still being written (bytes overwritten, or the daemon killed by a
// detached buffer). The blob must arrive whole, at about the cap, and the daemon must live on.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const MiB = 1024 * 1024;
const CAP_BYTES_PER_SECOND = 16 * MiB;

let seed: SeedRegistry;
let node: ShoalProcess;
let image: TestImage;

before(async () => {
  seed = await startSeedRegistry();
  image = await makeImage({ layers: [24 * MiB, 3 * MiB + 17], seed: 'rate-capped' });
  await pushImage(seed.url, 'capped/app', 'v1', image);
  node = await startShoal({ upstreams: [seed.url], args: ['--seed-rate', '16MiB/s', '--download-rate', '16MiB/s'] });
});

after(async () => {
  await node?.dispose();
  await seed?.stop();
  await image?.cleanup();
});

test('capped pull-through: every layer arrives whole, no faster than the cap, and the daemon lives on', { timeout: 120_000 }, async () => {
  const started = performance.now();
  for (const layer of image.layers) {
    const response = await fetch(`${node.url}/v2/capped/app/blobs/${layer.digest}`);
    assert.equal(response.status, 200);
    const hash = createHash('sha256');
    for await (const chunk of response.body!) hash.update(chunk as Uint8Array);
    assert.equal(`sha256:${hash.digest('hex')}`, layer.digest);
  }
  const seconds = (performance.now() - started) / 1000;
  const bytes = image.layers.reduce((sum, layer) => sum + layer.size, 0);
  // The limiter allows a short burst; well over a second for 27 MiB at 16 MiB/s shows it held.
  assert.ok(seconds >= (bytes / CAP_BYTES_PER_SECOND) * 0.75, `${bytes} bytes in ${seconds.toFixed(2)} s at a cap of 16 MiB/s`);
  assert.equal((await fetch(`${node.url}/v2/`)).status, 200, 'the daemon still answers');
  assert.ok(!node.logs().some((line) => /detached|verification/i.test(String(line.msg) + JSON.stringify(line.err ?? ''))), 'no detached buffer, no piece failing verification');
});
