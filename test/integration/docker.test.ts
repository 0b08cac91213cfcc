import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { docker, imageId, importRandomImage, removeImages, requireDocker } from '../helpers/docker.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

// Real dockerd against real shoal processes: docker treats localhost as an insecure-allowed registry.
describe('real docker against shoal', () => {
  let seed: SeedRegistry;
  let standalone: ShoalProcess;
  let mirror: ShoalProcess;
  const tags: string[] = [];

  before(async () => {
    await requireDocker();
    seed = await startSeedRegistry();
    standalone = await startShoal();
    mirror = await startShoal({ upstreams: [seed.url] });
  });

  after(async () => {
    await removeImages(...tags);
    await standalone?.dispose();
    await mirror?.dispose();
    await seed?.stop();
  });

  test('docker push to shoal, then docker pull of the same image', async () => {
    const source = await importRandomImage(`shoal-e2e-src:${Date.now()}`, { 'a.bin': 2_000_000, 'b.bin': 10_000 });
    const ref = `localhost:${standalone.port}/team/app:1`;
    tags.push(source, ref);
    await docker('tag', source, ref);
    const id = await imageId(ref);
    const pushed = await docker('push', ref);
    assert.match(pushed, /1: digest: sha256:[0-9a-f]{64}/);
    await removeImages(ref, source);
    await docker('pull', ref);
    assert.equal(await imageId(ref), id, 'the pulled image is the pushed one');
    const catalog = (await (await fetch(`${standalone.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['team/app']);
  });

  test('docker pull through shoal from the seed; the second pull costs the seed no blob', async () => {
    const source = await importRandomImage(`shoal-e2e-seed:${Date.now()}`, { 'layer.bin': 3_000_000 });
    const seedRef = `localhost:${seed.port}/nginx:1.14`;
    const mirrorRef = `localhost:${mirror.port}/nginx:1.14`;
    tags.push(source, seedRef, mirrorRef);
    await docker('tag', source, seedRef);
    await docker('push', seedRef);
    const id = await imageId(seedRef);
    await removeImages(seedRef, source);
    seed.clearLog();

    await docker('pull', mirrorRef);
    assert.equal(await imageId(mirrorRef), id);
    const firstPullBlobGets = await seed.blobGets();
    assert.equal(firstPullBlobGets, 2, 'config and layer fetched from the seed once each');

    await removeImages(mirrorRef);
    await docker('pull', mirrorRef);
    assert.equal(await imageId(mirrorRef), id);
    assert.equal(await seed.blobGets(), firstPullBlobGets, 'second pull served from shoal without seed blob requests');
  });
});
