// One suite for every UpstreamRegistry: RegistryClient against Debian's docker-registry, and the
// in-memory twin (src/upstream/memory-upstream.ts). What the rest of shoal may rely on an upstream
// for is written here once; a test that passes on the twin then holds against a real seed.
import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, test } from 'node:test';
import { OciError, MEDIA_TYPES, parseDigest } from '../../src/oci/index.ts';
import { UpstreamUnavailableError } from '../../src/upstream/errors.ts';
import { MemoryUpstream } from '../../src/upstream/memory-upstream.ts';
import { RegistryClient } from '../../src/upstream/registry-client.ts';
import type { UpstreamRegistry } from '../../src/upstream/types.ts';
import { blobBytes, makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';

const ACCEPT = [MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex];

interface Implementation {
  readonly name: string;
  /** Starts it with `image` pushed as `repository:tag`. */
  start(repository: string, tag: string, image: TestImage): Promise<UpstreamRegistry>;
  stop(): Promise<void>;
}

function realSeed(): Implementation {
  let seed: SeedRegistry | undefined;
  let client: RegistryClient | undefined;
  return {
    name: 'RegistryClient against docker-registry',
    async start(repository, tag, image) {
      seed = await startSeedRegistry();
      await pushImage(seed.url, repository, tag, image);
      client = new RegistryClient({ url: seed.url, timeoutMs: 5000 });
      return client;
    },
    async stop() {
      await client?.close();
      await seed?.stop();
    },
  };
}

function twin(): Implementation {
  return {
    name: 'MemoryUpstream',
    async start(repository, tag, image) {
      const upstream = new MemoryUpstream('http://127.0.0.1:5999');
      for (const blob of image.blobs) upstream.addBlob(repository, await blobBytes(blob));
      upstream.addManifest(repository, image.manifest, image.mediaType, tag);
      return upstream;
    },
    async stop() {},
  };
}

for (const impl of [twin(), realSeed()]) {
  describe(`upstream conformance: ${impl.name}`, { timeout: 60_000 }, () => {
    let image: TestImage;
    let upstream: UpstreamRegistry;
    let layer: Buffer;

    before(async () => {
      image = await makeImage({ layers: [100_000, 2048], seed: 'upstream-conformance' });
      layer = await blobBytes(image.layers[0]!);
      upstream = await impl.start('team/app', 'v1', image);
    });
    after(async () => {
      await impl.stop();
      await image?.cleanup();
    });

    test('a manifest by tag and by digest: HEAD names it, GET returns its bytes', async () => {
      const digest = parseDigest(image.digest);
      for (const reference of ['v1', image.digest]) {
        assert.deepEqual(await upstream.headManifest('team/app', reference, ACCEPT), { digest, mediaType: image.mediaType, size: image.manifest.byteLength }, reference);
        const got = await upstream.getManifest('team/app', reference, ACCEPT);
        assert.ok(got, reference);
        assert.ok(got.body.equals(image.manifest), reference);
        assert.equal(got.digest.value, image.digest);
        assert.equal(got.mediaType, image.mediaType);
      }
    });

    test('an unknown tag, digest or repository is undefined, not an error', async () => {
      assert.equal(await upstream.headManifest('team/app', 'v2', ACCEPT), undefined);
      assert.equal(await upstream.getManifest('team/app', `sha256:${'0'.repeat(64)}`, ACCEPT), undefined);
      assert.equal(await upstream.getManifest('team/other', 'v1', ACCEPT), undefined);
      assert.equal(await upstream.headBlob('team/app', parseDigest(`sha256:${'1'.repeat(64)}`)), undefined);
      assert.equal(await upstream.getBlob('team/app', parseDigest(`sha256:${'1'.repeat(64)}`)), undefined);
      assert.equal(await upstream.listTags('team/other'), undefined);
    });

    test('a blob is served only through a repository it was pushed to', async () => {
      const digest = parseDigest(image.layers[0]!.digest);
      assert.equal(await upstream.headBlob('team/app', digest), layer.byteLength);
      assert.equal(await upstream.headBlob('team/other', digest), undefined);
    });

    test('a whole blob: its size and every byte, no range', async () => {
      const blob = await upstream.getBlob('team/app', parseDigest(image.layers[0]!.digest));
      assert.ok(blob);
      assert.equal(blob.size, layer.byteLength);
      assert.equal(blob.range, undefined);
      assert.ok((await buffer(blob.stream)).equals(layer));
    });

    test('a range: the part asked for, the whole size, and a range past the end clamped to it', async () => {
      const digest = parseDigest(image.layers[0]!.digest);
      const part = await upstream.getBlob('team/app', digest, { start: 1000, end: 1999 });
      assert.ok(part);
      assert.equal(part.size, layer.byteLength);
      assert.deepEqual(part.range, { start: 1000, end: 1999 });
      assert.ok((await buffer(part.stream)).equals(layer.subarray(1000, 2000)));
      const tail = await upstream.getBlob('team/app', digest, { start: layer.byteLength - 10, end: layer.byteLength + 100 });
      assert.deepEqual(tail?.range, { start: layer.byteLength - 10, end: layer.byteLength - 1 });
      assert.ok((await buffer(tail!.stream)).equals(layer.subarray(-10)));
    });

    test('a range that starts past the end is RANGE_INVALID', async () => {
      const digest = parseDigest(image.layers[0]!.digest);
      await assert.rejects(upstream.getBlob('team/app', digest, { start: layer.byteLength, end: layer.byteLength + 10 }), (error: unknown) => {
        assert.ok(error instanceof OciError);
        assert.equal(error.code, 'RANGE_INVALID');
        return true;
      });
    });

    test('tags and the catalog', async () => {
      assert.deepEqual(await upstream.listTags('team/app'), ['v1']);
      assert.deepEqual(await upstream.catalog(), ['team/app']);
    });
  });
}

describe('MemoryUpstream beyond the shared suite', () => {
  test('down: every call fails as an unreachable seed does, until it is up again', async () => {
    const upstream = new MemoryUpstream('http://seed.lan:5000');
    const digest = upstream.addBlob('team/app', Buffer.from('layer'));
    upstream.down = true;
    for (const call of [() => upstream.headManifest('team/app', 'v1'), () => upstream.headBlob('team/app', digest), () => upstream.getBlob('team/app', digest), () => upstream.listTags('team/app'), () => upstream.catalog()]) {
      await assert.rejects(call(), (error: unknown) => error instanceof UpstreamUnavailableError && error.upstream === 'seed.lan:5000');
    }
    upstream.down = false;
    assert.equal(await upstream.headBlob('team/app', digest), 5);
  });
});
