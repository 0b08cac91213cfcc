// In a repository with a seed, the seed is authoritative for what exists, as the OCI conformance
// suite checks a pull-through registry (pull-only mode, content only on the seed; deletes):
// a HEAD of a blob only the seed has is 200, and a pusher that skipped it on that word gets its
// manifest accepted once the blob is fetched here; a blob or manifest pushed here and deleted
// stays deleted (this host's copy under another name does not bring it back), while one the seed
// serves comes back from it. A real registry:2 seed.
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DockerCredentials } from '../../src/upstream/docker-credentials.ts';
import { UpstreamSet } from '../../src/upstream/upstreams.ts';
import { makeImage, pushImage as pushToSeed, type TestImage } from '../helpers/images.ts';
import { assertError, imageManifest, makeBlob, MEDIA_TYPES, pushImage, putManifest } from '../helpers/oci-fixtures.ts';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

describe('a mirror: the seed says what exists', () => {
  let seed: SeedRegistry;
  let router: UpstreamSet;
  let registry: TestRegistry;
  let image: TestImage;
  const blobFile = (digest: string): string => join(registry.dataDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7), 'data');
  const request = (method: 'GET' | 'HEAD' | 'DELETE', url: string) =>
    registry.app.inject({ method, url, headers: { accept: `${MEDIA_TYPES.ociManifest}, ${MEDIA_TYPES.dockerManifest}` } });

  before(async () => {
    seed = await startSeedRegistry();
    router = new UpstreamSet([{ url: seed.url }], { dockerCredentials: DockerCredentials.empty(), upstreamTimeoutMs: 5000 });
    registry = await createTestRegistry({ router });
    image = await makeImage({ layers: [4096, 2048], seed: 'seed-authority' });
    await pushToSeed(seed.url, 'seeded/base', '1', image);
  });
  after(async () => {
    await registry?.close();
    await router?.close();
    await seed?.stop();
    await image?.cleanup();
  });

  test('HEAD of a blob only the seed has: 200 with its size and digest, and nothing fetched; one nobody has: 404', async () => {
    const layer = image.layers[0]!;
    const head = await request('HEAD', `/v2/seeded/base/blobs/${layer.digest}`);
    assert.equal(head.statusCode, 200, head.body);
    assert.equal(Number(head.headers['content-length']), layer.size);
    assert.equal(head.headers['docker-content-digest'], layer.digest);
    assert.equal(await exists(blobFile(layer.digest)), false, 'a HEAD fetches nothing');
    assertError(await request('HEAD', `/v2/seeded/base/blobs/${makeBlob().digest}`), 404, 'BLOB_UNKNOWN');
  });

  test('a manifest pushed on a base layer the pusher skipped (HEAD found it at the seed) is accepted once the layer is fetched here', async () => {
    const base = image.layers[1]!;
    // The seed holds it in this repository (registry:2 answers per repository): an image built on
    // the seed's base, pushed under another tag of it.
    assert.equal((await request('HEAD', `/v2/seeded/base/blobs/${base.digest}`)).statusCode, 200);
    const config = makeBlob('{"architecture":"amd64","os":"linux","derived":"from the seed"}');
    const own = makeBlob();
    for (const blob of [config, own]) {
      const res = await registry.app.inject({ method: 'POST', url: `/v2/seeded/base/blobs/uploads/?digest=${blob.digest}`, headers: { 'content-type': 'application/octet-stream' }, payload: blob.content });
      assert.equal(res.statusCode, 201, res.body);
    }
    const manifest = imageManifest({ config, layers: [own, { content: Buffer.alloc(0), digest: base.digest, hex: base.digest.slice(7), size: base.size }] });
    const put = await putManifest(registry.app, 'seeded/base', 'derived', manifest);
    assert.equal(put.statusCode, 201, put.body);
    assert.equal(await exists(blobFile(base.digest)), true, 'the skipped layer is stored here');
    const pulled = await request('GET', `/v2/seeded/base/blobs/${base.digest}`);
    assert.equal(pulled.statusCode, 200);
    assert.equal(pulled.rawPayload.length, base.size);
  });

  test('a blob pushed here and deleted stays deleted (GET and HEAD 404); one the seed has comes back from it', async () => {
    const pushed = await pushImage(registry.app, 'seeded/pushed', '1');
    const blob = pushed.layers[0]!;
    assert.equal((await request('DELETE', `/v2/seeded/pushed/blobs/${blob.digest}`)).statusCode, 202);
    assertError(await request('GET', `/v2/seeded/pushed/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
    assertError(await request('HEAD', `/v2/seeded/pushed/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
    assert.equal((await request('GET', `/v2/seeded/pushed/blobs/${pushed.layers[1]!.digest}`)).statusCode, 200, 'only the deleted blob went');

    const layer = image.layers[0]!;
    assert.equal((await request('GET', '/v2/seeded/base/manifests/1')).statusCode, 200, 'pulled through: the repository exists here');
    assert.equal((await request('GET', `/v2/seeded/base/blobs/${layer.digest}`)).statusCode, 200);
    assert.equal((await request('DELETE', `/v2/seeded/base/blobs/${layer.digest}`)).statusCode, 202, 'a blob fetched through the repository is in it');
    const again = await request('GET', `/v2/seeded/base/blobs/${layer.digest}`);
    assert.equal(again.statusCode, 200, 'the seed still serves it');
    assert.equal(again.rawPayload.length, layer.size);
  });

  test('a manifest pushed here and deleted by digest stays deleted; one the seed has comes back from it', async () => {
    const pushed = await pushImage(registry.app, 'seeded/gone', '1');
    const digest = pushed.manifest.digest;
    assert.equal((await request('DELETE', `/v2/seeded/gone/manifests/${digest}`)).statusCode, 202);
    assertError(await request('GET', `/v2/seeded/gone/manifests/${digest}`), 404, 'MANIFEST_UNKNOWN');
    assertError(await request('HEAD', `/v2/seeded/gone/manifests/${digest}`), 404, 'MANIFEST_UNKNOWN');

    assert.equal((await request('GET', `/v2/seeded/base/manifests/${image.digest}`)).statusCode, 200);
    assert.equal((await request('DELETE', `/v2/seeded/base/manifests/${image.digest}`)).statusCode, 202);
    assert.equal((await request('GET', `/v2/seeded/base/manifests/${image.digest}`)).statusCode, 200, 'the seed still serves it');
  });
});
