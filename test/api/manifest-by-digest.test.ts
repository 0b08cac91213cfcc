// A manifest URL naming the digest of a layer or config held here answers 404, as for any digest
// that is no manifest: the blob is neither parsed as one (400 MANIFEST_INVALID said it exists)
// nor, when large, read into memory to find out.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ManifestService } from '../../src/distribute/manifest-service.ts';
import { parseDigest, parseReference } from '../../src/oci/index.ts';
import { DockerCredentials } from '../../src/upstream/docker-credentials.ts';
import { UpstreamSet } from '../../src/upstream/upstreams.ts';
import { assertError, makeBlob, pushBlob, pushImage } from '../helpers/oci-fixtures.ts';
import { createTestRegistry, NO_UPSTREAMS, type TestRegistry } from '../helpers/registry-app.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';

describe('a manifest URL naming a stored blob that is no manifest', () => {
  let seed: SeedRegistry;
  let router: UpstreamSet;
  let registry: TestRegistry;
  let layers: string[];
  before(async () => {
    seed = await startSeedRegistry();
    router = new UpstreamSet([{ url: seed.url }], { dockerCredentials: DockerCredentials.empty(), upstreamTimeoutMs: 5000 });
    registry = await createTestRegistry({ router });
    const pushed = await pushImage(registry.app, 'held/app', '1');
    const big = makeBlob(Buffer.alloc(5 * 1024 * 1024, 7));
    await pushBlob(registry.app, 'held/app', big);
    layers = [pushed.config.digest, ...pushed.layers.map((l) => l.digest), big.digest];
  });
  after(async () => {
    await registry?.close();
    await router?.close();
    await seed?.stop();
  });

  test('GET and HEAD, in its own repository and in another: 404 MANIFEST_UNKNOWN', async () => {
    for (const digest of layers) {
      for (const name of ['held/app', 'other/app']) {
        for (const method of ['GET', 'HEAD'] as const) {
          assertError(await registry.app.inject({ method, url: `/v2/${name}/manifests/${digest}` }), 404, 'MANIFEST_UNKNOWN', `${method} ${name} ${digest}`);
        }
      }
    }
  });

  test('nor does a peer\'s answer get mixed up with it: the swarm path reads only manifests', async () => {
    const peers = { newestTag: () => undefined, fetch: async () => undefined };
    const service = new ManifestService(registry.store, NO_UPSTREAMS, pino({ level: 'silent' }), { tagTimeoutMs: 1000 }, peers);
    for (const digest of layers) await assert.rejects(service.resolve('held/app', parseReference(digest)), (error: Error & { code?: string }) => error.code === 'MANIFEST_UNKNOWN');
    assert.equal(await registry.store.manifests.readIfManifest(parseDigest(layers.at(-1)!)), undefined);
  });
});
