// Which repositories a mirror's blob GETs and pushes write into: a blob held here for one
// repository is served under any name, but only a repository that exists here (a manifest pulled
// or pushed into it) gets its link, so anonymous GETs cannot make repositories; a manifest pushed
// into a new repository links every blob it names, as registry:2 keeps its layout.
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DockerCredentials } from '../../src/upstream/docker-credentials.ts';
import { UpstreamSet } from '../../src/upstream/upstreams.ts';
import { assertError, imageManifest, makeBlob, pushBlob, pushImage, putManifest } from '../helpers/oci-fixtures.ts';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

describe('repository links in a mirror', () => {
  let seed: SeedRegistry;
  let router: UpstreamSet;
  let registry: TestRegistry;
  let layer: string;
  const layerLink = (repo: string, digest: string): string => join(registry.dataDir, 'docker', 'registry', 'v2', 'repositories', repo, '_layers', 'sha256', digest.slice(7), 'link');
  before(async () => {
    seed = await startSeedRegistry();
    router = new UpstreamSet([{ url: seed.url }], { dockerCredentials: DockerCredentials.empty(), upstreamTimeoutMs: 5000 });
    registry = await createTestRegistry({ router });
    layer = (await pushImage(registry.app, 'base/image', '1')).layers[0]!.digest;
  });
  after(async () => {
    await registry?.close();
    await router?.close();
    await seed?.stop();
  });

  test('a blob GET under a name that is no repository here is served and writes nothing', async () => {
    for (const name of ['junk/one', 'junk/two']) {
      assert.equal((await registry.app.inject({ method: 'GET', url: `/v2/${name}/blobs/${layer}` })).statusCode, 200);
      assert.equal((await registry.app.inject({ method: 'HEAD', url: `/v2/${name}/blobs/${layer}` })).statusCode, 200);
      assert.equal(await exists(join(registry.dataDir, 'docker', 'registry', 'v2', 'repositories', name)), false, `${name} made no directory`);
      assertError(await registry.app.inject({ method: 'GET', url: `/v2/${name}/tags/list` }), 404, 'NAME_UNKNOWN', name);
    }
  });

  test('a manifest pushed into a new repository on a blob held under another name links it, as registry:2 lays it out', async () => {
    const config = makeBlob('{"architecture":"amd64","os":"linux","derived":true}');
    const base = makeBlob();
    for (const blob of [config, base]) assert.equal((await pushBlob(registry.app, 'base/image', blob)).statusCode, 201);
    // The pusher's HEADs find both blobs here: nothing is uploaded into app/derived, which does not exist yet.
    for (const blob of [config, base]) assert.equal((await registry.app.inject({ method: 'HEAD', url: `/v2/app/derived/blobs/${blob.digest}` })).statusCode, 200);
    const put = await putManifest(registry.app, 'app/derived', '1', imageManifest({ config, layers: [base] }));
    assert.equal(put.statusCode, 201, put.body);
    assert.ok(await exists(layerLink('app/derived', base.digest)), 'the layer is linked into the new repository');
    assert.ok(await exists(layerLink('app/derived', config.digest)));
  });
});
