import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import {
  MEDIA_TYPES, assertApiVersion, assertError, descriptor, imageManifest, indexManifest, makeBlob, manifestOf, pushBlob, pushImage, pushManifestOk, putManifest,
  type TestManifest,
} from '../helpers/oci-fixtures.ts';

describe('manifest PUT', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await createTestRegistry();
  });
  after(() => registry.close());

  const assertCreated = (res: Awaited<ReturnType<typeof putManifest>>, name: string, manifest: TestManifest): void => {
    assert.equal(res.statusCode, 201, res.body);
    assertApiVersion(res);
    assert.equal(res.headers['docker-content-digest'], manifest.digest);
    assert.equal(res.headers.location, `/v2/${name}/manifests/${manifest.digest}`);
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.headers['oci-subject'], undefined);
  };

  for (const flavour of ['docker', 'oci'] as const) {
    test(`${flavour} image manifest by tag and by digest: 201 with Location and Docker-Content-Digest`, async () => {
      const name = `push/${flavour}-image`;
      const config = makeBlob(`{"flavour":"${flavour}"}`);
      const layers = [makeBlob(), makeBlob()];
      for (const blob of [config, ...layers]) await pushBlob(registry.app, name, blob);
      const manifest = imageManifest({ flavour, config, layers });
      assertCreated(await putManifest(registry.app, name, 'v1', manifest), name, manifest);
      assertCreated(await putManifest(registry.app, name, manifest.digest, manifest), name, manifest);

      const got = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/v1` });
      assert.equal(got.statusCode, 200);
      assert.equal(got.headers['content-type'], manifest.mediaType);
      assert.deepEqual(got.rawPayload, manifest.body);
    });

    test(`${flavour} index of pushed manifests is accepted; a missing child is MANIFEST_BLOB_UNKNOWN`, async () => {
      const name = `push/${flavour}-index`;
      const a = await pushImage(registry.app, name, 'amd64', { flavour });
      const b = await pushImage(registry.app, name, 'arm64', { flavour });
      const index = indexManifest([a.manifest, b.manifest], { flavour });
      assertCreated(await putManifest(registry.app, name, 'multi', index), name, index);
      const got = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/multi` });
      assert.equal(got.headers['content-type'], index.mediaType);
      assert.deepEqual(got.rawPayload, index.body);

      const stranger = imageManifest({ flavour, config: makeBlob('never pushed') });
      const broken = indexManifest([a.manifest, stranger], { flavour });
      const res = await putManifest(registry.app, name, 'broken', broken);
      assertError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
      assert.deepEqual(res.json().errors[0].detail, { digests: [stranger.digest] });
      // a child pushed to another repository does not count
      const other = await pushImage(registry.app, 'push/elsewhere', 'x', { flavour });
      assertError(await putManifest(registry.app, name, 'broken', indexManifest([other.manifest], { flavour })), 400, 'MANIFEST_BLOB_UNKNOWN');
      assertError(await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/broken` }), 404, 'MANIFEST_UNKNOWN');
    });
  }

  test('a manifest with no mediaType in the body takes its type from Content-Type, else from its shape', async () => {
    const name = 'push/no-media-type';
    const config = makeBlob('{"c":1}');
    await pushBlob(registry.app, name, config);
    const json = { schemaVersion: 2, config: descriptor(config, 'application/vnd.oci.image.config.v1+json'), layers: [] };
    const m = manifestOf(json, MEDIA_TYPES.ociManifest);
    assert.equal((await putManifest(registry.app, name, 'bare', m, undefined)).statusCode, 201);
    const got = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/bare` });
    assert.equal(got.headers['content-type'], MEDIA_TYPES.ociManifest);
  });

  test('PUT by digest whose body has another digest is DIGEST_INVALID and stores nothing', async () => {
    const name = 'push/wrong-digest';
    const { manifest } = await pushImage(registry.app, name, 'v1');
    const other = imageManifest({ config: makeBlob('other') });
    assertError(await putManifest(registry.app, name, other.digest, manifest), 400, 'DIGEST_INVALID');
    assertError(await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/${other.digest}` }), 404, 'MANIFEST_UNKNOWN');
  });

  test('a manifest up to 4 MiB is accepted; a larger one is 413 MANIFEST_INVALID', async () => {
    const name = 'push/size';
    const config = makeBlob('{"size":1}');
    await pushBlob(registry.app, name, config);
    const withPadding = (bytes: number): TestManifest => {
      const base = imageManifest({ config, annotations: { pad: '' } });
      const pad = 'x'.repeat(bytes - base.body.byteLength);
      return imageManifest({ config, annotations: { pad } });
    };
    const big = withPadding(4 * 1024 * 1024);
    assert.equal(big.body.byteLength, 4 * 1024 * 1024);
    const ok = await putManifest(registry.app, name, 'big', big);
    assert.equal(ok.statusCode, 201, ok.body.slice(0, 300));
    const got = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/big` });
    assert.equal(got.headers['content-length'], String(big.body.byteLength));
    assert.equal(got.headers['docker-content-digest'], big.digest);

    const tooBig = withPadding(4 * 1024 * 1024 + 1);
    assertError(await putManifest(registry.app, name, 'toobig', tooBig), 413, 'MANIFEST_INVALID');
    assertError(await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/toobig` }), 404, 'MANIFEST_UNKNOWN');
  });

  test('a manifest body without Content-Length (chunked) over 4 MiB is refused as it streams', async () => {
    const { Readable } = await import('node:stream');
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const body = Readable.from((function* () {
      for (let i = 0; i < 5; i += 1) yield chunk;
    })());
    const res = await registry.app.inject({ method: 'PUT', url: '/v2/push/chunked/manifests/v1', headers: { 'content-type': MEDIA_TYPES.ociManifest, 'transfer-encoding': 'chunked' }, payload: body });
    assertError(res, 413, 'MANIFEST_INVALID');
  });

  describe('invalid manifests are MANIFEST_INVALID', () => {
    const name = 'push/invalid';
    const config = makeBlob('{"invalid":true}');
    const layer = makeBlob('layer of the invalid tests');
    const good = (): Record<string, unknown> => ({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: descriptor(config, 'application/vnd.oci.image.config.v1+json'),
      layers: [descriptor(layer, 'application/vnd.oci.image.layer.v1.tar+gzip')],
    });
    before(async () => {
      await pushBlob(registry.app, name, config);
      await pushBlob(registry.app, name, layer);
      assert.equal((await putManifest(registry.app, name, 'good', manifestOf(good(), MEDIA_TYPES.ociManifest))).statusCode, 201);
    });

    const cases: Array<[string, () => Buffer | string, string?]> = [
      ['empty body', () => ''],
      ['not JSON', () => 'this is not json'],
      ['truncated JSON', () => JSON.stringify(good()).slice(0, 40)],
      ['a JSON array', () => '[]'],
      ['a JSON string', () => '"manifest"'],
      ['schemaVersion 1', () => JSON.stringify({ ...good(), schemaVersion: 1, mediaType: undefined })],
      ['schemaVersion as a string', () => JSON.stringify({ ...good(), schemaVersion: '2' })],
      ['no schemaVersion', () => JSON.stringify({ ...good(), schemaVersion: undefined })],
      ['missing config', () => JSON.stringify({ ...good(), config: undefined })],
      ['config not an object', () => JSON.stringify({ ...good(), config: 'sha256:abc' })],
      ['missing layers', () => JSON.stringify({ ...good(), layers: undefined })],
      ['layers not an array', () => JSON.stringify({ ...good(), layers: {} })],
      ['layer descriptor with a malformed digest', () => JSON.stringify({ ...good(), layers: [{ ...descriptor(layer, 'x/y'), digest: 'sha256:totallywrong' }] })],
      ['layer descriptor with an md5 digest', () => JSON.stringify({ ...good(), layers: [{ ...descriptor(layer, 'x/y'), digest: 'md5:abc' }] })],
      ['config descriptor with uppercase hex', () => JSON.stringify({ ...good(), config: { ...descriptor(config, 'x/y'), digest: config.digest.toUpperCase().replace('SHA256', 'sha256') } })],
      ['descriptor with a negative size', () => JSON.stringify({ ...good(), layers: [{ ...descriptor(layer, 'x/y'), size: -1 }] })],
      ['descriptor with a fractional size', () => JSON.stringify({ ...good(), layers: [{ ...descriptor(layer, 'x/y'), size: 1.5 }] })],
      ['descriptor with a string size', () => JSON.stringify({ ...good(), layers: [{ ...descriptor(layer, 'x/y'), size: String(layer.size) }] })],
      ['descriptor without mediaType', () => JSON.stringify({ ...good(), layers: [{ digest: layer.digest, size: layer.size }] })],
      ['annotations that are not strings', () => JSON.stringify({ ...good(), annotations: { a: 1 } })],
      ['an unknown mediaType', () => JSON.stringify({ ...good(), mediaType: 'application/vnd.example+json' })],
      ['an index without manifests', () => JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex })],
      ['a subject that is not a descriptor', () => JSON.stringify({ ...good(), subject: 'sha256:abc' })],
      ['Content-Type disagreeing with mediaType', () => JSON.stringify(good()), MEDIA_TYPES.dockerManifest],
      ['Content-Type index for a manifest body', () => JSON.stringify(good()), `${MEDIA_TYPES.ociIndex}; charset=utf-8`],
    ];
    for (const [label, body, contentType] of cases) {
      test(label, async () => {
        const res = await registry.app.inject({ method: 'PUT', url: `/v2/${name}/manifests/bad`, headers: { 'content-type': contentType ?? MEDIA_TYPES.ociManifest }, payload: body() });
        assertError(res, 400, 'MANIFEST_INVALID', label);
        assertError(await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/bad` }), 404, 'MANIFEST_UNKNOWN');
      });
    }

    test('a descriptor size that does not match the stored blob', async () => {
      const json = good();
      json.layers = [{ ...descriptor(layer, 'application/vnd.oci.image.layer.v1.tar+gzip'), size: layer.size + 1 }];
      const res = await putManifest(registry.app, name, 'bad', manifestOf(json, MEDIA_TYPES.ociManifest));
      assertError(res, 400, 'MANIFEST_INVALID');
      assert.deepEqual(res.json().errors[0].detail, { digest: layer.digest });
    });
  });

  test('a manifest naming blobs the repository lacks is MANIFEST_BLOB_UNKNOWN, listing them', async () => {
    const name = 'push/missing-blobs';
    const config = makeBlob('{"m":1}');
    const present = makeBlob('present');
    const absent = makeBlob('absent');
    await pushBlob(registry.app, name, config);
    await pushBlob(registry.app, name, present);
    const res = await putManifest(registry.app, name, 'v1', imageManifest({ config, layers: [present, absent] }));
    assertError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    assert.deepEqual(res.json().errors[0].detail, { digests: [absent.digest] });

    // a blob stored for another repository is not visible here
    const foreign = makeBlob('foreign');
    await pushBlob(registry.app, 'push/other-repo', foreign);
    const res2 = await putManifest(registry.app, name, 'v1', imageManifest({ config, layers: [foreign] }));
    assertError(res2, 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  test('a manifest with a subject answers 201 with OCI-Subject; the subject need not exist', async () => {
    const name = 'push/subject';
    const { manifest: image } = await pushImage(registry.app, name, 'v1');
    const empty = makeBlob('{}');
    await pushBlob(registry.app, name, empty);
    const signature = imageManifest({ config: empty, configMediaType: 'application/vnd.oci.empty.v1+json', artifactType: 'application/vnd.example.sig', subject: image, layers: [] });
    const res = await putManifest(registry.app, name, signature.digest, signature);
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.headers['oci-subject'], image.digest);
    assert.equal(res.headers['docker-content-digest'], signature.digest);

    const dangling = imageManifest({ config: empty, configMediaType: 'application/vnd.oci.empty.v1+json', subject: { mediaType: MEDIA_TYPES.ociManifest, digest: makeBlob('nothing').digest, size: 7 } });
    const res2 = await putManifest(registry.app, name, dangling.digest, dangling);
    assert.equal(res2.statusCode, 201, res2.body);
    assert.equal(res2.headers['oci-subject'], makeBlob('nothing').digest);
  });

  test('re-pushing a tag moves it; the old manifest stays reachable by digest', async () => {
    const name = 'push/retag';
    const first = await pushImage(registry.app, name, 'latest');
    const second = await pushImage(registry.app, name, 'latest');
    const byTag = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/latest` });
    assert.equal(byTag.headers['docker-content-digest'], second.manifest.digest);
    const old = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/${first.manifest.digest}` });
    assert.equal(old.statusCode, 200);
    assert.deepEqual(old.rawPayload, first.manifest.body);
  });

  test('bad references on PUT: TAG_INVALID, DIGEST_INVALID, never stored', async () => {
    const name = 'push/bad-ref';
    const { manifest } = await pushImage(registry.app, name, 'v1');
    for (const [reference, code] of [
      ['-leadingdash', 'TAG_INVALID'],
      ['.leadingdot', 'TAG_INVALID'],
      ['t'.repeat(129), 'TAG_INVALID'],
      ['has%20space', 'TAG_INVALID'],
      ['sha256:totallywrong', 'DIGEST_INVALID'],
      ['md5:abc', 'DIGEST_INVALID'],
      [`SHA256:${manifest.digest.slice(7)}`, 'DIGEST_INVALID'],
      [`sha256:${manifest.digest.slice(7).toUpperCase()}`, 'DIGEST_INVALID'],
    ] as const) {
      assertError(await putManifest(registry.app, name, reference, manifest), 400, code, reference);
    }
    assert.equal((await putManifest(registry.app, name, 't'.repeat(128), manifest)).statusCode, 201);
    const tags = (await registry.app.inject({ method: 'GET', url: `/v2/${name}/tags/list` })).json();
    assert.deepEqual(tags.tags, ['t'.repeat(128), 'v1']);
  });

  test('a pushed manifest can be served back byte-for-byte with its exact whitespace', async () => {
    const name = 'push/bytes';
    const config = makeBlob('{"bytes":1}');
    await pushBlob(registry.app, name, config);
    const json = imageManifest({ config }).json;
    const body = Buffer.from(`${JSON.stringify(json, null, 3)}\n`);
    const res = await registry.app.inject({ method: 'PUT', url: `/v2/${name}/manifests/pretty`, headers: { 'content-type': MEDIA_TYPES.ociManifest }, payload: body });
    assert.equal(res.statusCode, 201);
    const got = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/pretty` });
    assert.deepEqual(got.rawPayload, body);
    assert.equal(got.headers['docker-content-digest'], res.headers['docker-content-digest']);
  });

  test('an OCI index may carry a subject and an artifactType', async () => {
    const name = 'push/index-subject';
    const { manifest } = await pushImage(registry.app, name, 'v1');
    const index = indexManifest([manifest], { subject: manifest, artifactType: 'application/vnd.example.bundle' });
    const res = await pushManifestOk(registry.app, name, 'bundle', index);
    assert.equal(res.headers['oci-subject'], manifest.digest);
  });
});
