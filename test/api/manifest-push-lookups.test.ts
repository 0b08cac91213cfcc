// A manifest pushed to a mirror naming blobs not held here: they are looked up at the seed a few at
// a time, and the push is refused once a few are known missing. Before, each one cost the seed a
// HEAD (an audit's 1000-layer manifest made 1000; a 4 MiB one allows about 25 000). An image built
// on the seed's base (its layers skipped by the pusher, as a HEAD said the seed has them) is still
// accepted, those layers fetched here.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseDigest } from '../../src/oci/index.ts';
import { makeImage, pushImage as pushToSeed, type TestImage } from '../helpers/images.ts';
import { assertError, errorCodes, imageManifest, makeBlob, pushBlob, putManifest, type TestBlob } from '../helpers/oci-fixtures.ts';
import type { TestRegistry } from '../helpers/registry-app.ts';
import type { SeedRegistry } from '../helpers/seed-registry.ts';
import { startTestMirror, type TestMirror } from '../helpers/test-mirror.ts';

/** A blob nobody has: made, never pushed. */
const madeUp = (i: number): TestBlob => makeBlob(`made-up layer ${i}`);

/** push-service.ts's MISSING_BEFORE_REFUSAL (8) plus REMOTE_LOOKUPS_AT_ONCE (4): the refusal's count and those already under way. */
const MOST_LOOKUPS = 12;

describe('a manifest pushed to a mirror on blobs not held here', () => {
  let mirror: TestMirror;
  let seed: SeedRegistry;
  let registry: TestRegistry;
  let base: TestImage;
  const seedBlobHeads = async (): Promise<number> => (await seed.requests()).filter((r) => r.method === 'HEAD' && r.path.includes('/blobs/')).length;

  before(async () => {
    mirror = await startTestMirror();
    ({ seed, registry } = mirror);
    base = await makeImage({ layers: [1024, 2048, 3072, 4096, 5120, 6144], seed: 'push-lookups' });
    await pushToSeed(seed.url, 'alpha/a', 'base', base);
  });
  after(async () => {
    await mirror?.close();
    await base?.cleanup();
  });

  test('200 made-up layers: refused MANIFEST_BLOB_UNKNOWN after a few seed look-ups, naming the ones found missing', async () => {
    const config = makeBlob('{"architecture":"amd64","os":"linux","made":"up"}');
    await pushBlob(registry.app, 'alpha/a', config);
    const layers = Array.from({ length: 200 }, (_, i) => madeUp(i));
    seed.clearLog();
    const res = await putManifest(registry.app, 'alpha/a', 'many', imageManifest({ config, layers }));
    assertError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    const heads = await seedBlobHeads();
    // Before: 200 (one for each).
    assert.ok(heads <= MOST_LOOKUPS, `${heads} blob HEADs at the seed`);
    assert.ok(heads >= 1, 'the seed was asked');
    const named = (res.json().errors[0].detail?.digests ?? []) as string[];
    assert.ok(named.length >= 1 && named.length <= MOST_LOOKUPS, `${named.length} named`);
    const madeUpDigests = new Set(layers.map((l) => l.digest));
    for (const digest of named) assert.ok(madeUpDigests.has(digest), `${digest} is one of the made-up layers`);
    assert.deepEqual(errorCodes(res), ['MANIFEST_BLOB_UNKNOWN']);
    assert.equal(await registry.store.repositories.resolveTag('alpha/a', 'many'), undefined);
  });

  test('an image on the seed\'s six base layers, none uploaded here: accepted, the layers fetched', async () => {
    const config = makeBlob('{"architecture":"amd64","os":"linux","derived":"from base"}');
    const own = makeBlob();
    for (const blob of [config, own]) await pushBlob(registry.app, 'alpha/a', blob);
    // Described by digest and size only: the pusher has the bytes, but a HEAD here said the seed does.
    const baseLayers: TestBlob[] = base.layers.map((l) => ({ content: Buffer.alloc(0), digest: l.digest, hex: l.digest.slice(7), size: l.size }));
    const res = await putManifest(registry.app, 'alpha/a', 'derived', imageManifest({ flavour: 'docker', config, layers: [...baseLayers, own] }));
    assert.equal(res.statusCode, 201, res.body);
    for (const layer of base.layers) assert.equal(await registry.store.blobs.stat(parseDigest(layer.digest)), layer.size, `${layer.digest} fetched here`);
  });
});
