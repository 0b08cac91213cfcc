import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { MEDIA_TYPES, assertApiVersion, assertError, imageManifest, indexManifest, makeBlob, pushBlob, pushImage, pushManifestOk, putManifest, type TestManifest } from '../helpers/oci-fixtures.ts';

describe('manifest GET/HEAD', () => {
  let registry: TestRegistry;
  const name = 'pull/app';
  const pushed: Record<string, TestManifest> = {};
  before(async () => {
    registry = await createTestRegistry();
    const docker = await pushImage(registry.app, name, 'docker', { flavour: 'docker' });
    const oci = await pushImage(registry.app, name, 'oci', { flavour: 'oci' });
    pushed.docker = docker.manifest;
    pushed.oci = oci.manifest;
    pushed.dockerList = indexManifest([docker.manifest], { flavour: 'docker' });
    pushed.ociIndex = indexManifest([oci.manifest], { flavour: 'oci', annotations: { 'org.example': 'yes' } });
    await pushManifestOk(registry.app, name, 'docker-list', pushed.dockerList);
    await pushManifestOk(registry.app, name, 'oci-index', pushed.ociIndex);
  });
  after(() => registry.close());

  const tags: Record<string, string> = { docker: 'docker', oci: 'oci', dockerList: 'docker-list', ociIndex: 'oci-index' };
  for (const kind of Object.keys(tags)) {
    test(`${kind}: GET and HEAD by tag and by digest`, async () => {
      const manifest = pushed[kind]!;
      for (const reference of [tags[kind]!, manifest.digest]) {
        const get = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/${reference}` });
        assert.equal(get.statusCode, 200, get.body);
        assertApiVersion(get);
        assert.equal(get.headers['content-type'], manifest.mediaType);
        assert.equal(get.headers['docker-content-digest'], manifest.digest);
        assert.equal(get.headers['content-length'], String(manifest.body.byteLength));
        assert.deepEqual(get.rawPayload, manifest.body);

        const head = await registry.app.inject({ method: 'HEAD', url: `/v2/${name}/manifests/${reference}` });
        assert.equal(head.statusCode, 200);
        assert.equal(head.headers['content-type'], manifest.mediaType);
        assert.equal(head.headers['docker-content-digest'], manifest.digest);
        assert.equal(head.headers['content-length'], String(manifest.body.byteLength));
        assert.equal(head.body, '');
      }
    });

    test(`${kind}: served when Accept lists its type (among others, with q-values)`, async () => {
      const manifest = pushed[kind]!;
      const accept = `${MEDIA_TYPES.ociIndex};q=0.5, ${manifest.mediaType}; q=0.9, application/json`;
      const res = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/${tags[kind]}`, headers: { accept } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], manifest.mediaType);
      // several Accept headers, as docker sends them
      const multi = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/${tags[kind]}`, headers: { accept: ['application/foo', manifest.mediaType] } });
      assert.equal(multi.statusCode, 200);
    });
  }

  test('Accept naming only other manifest types is 404 MANIFEST_UNKNOWN (GET and HEAD)', async () => {
    const cases: Array<[TestManifest, string, string]> = [
      [pushed.oci!, 'oci', MEDIA_TYPES.dockerManifest],
      [pushed.docker!, 'docker', `${MEDIA_TYPES.ociManifest}, ${MEDIA_TYPES.ociIndex}`],
      [pushed.ociIndex!, 'oci-index', `${MEDIA_TYPES.ociManifest}, ${MEDIA_TYPES.dockerManifest}, ${MEDIA_TYPES.dockerManifestList}`],
      [pushed.dockerList!, 'docker-list', MEDIA_TYPES.ociManifest],
    ];
    for (const [manifest, tag, accept] of cases) {
      for (const reference of [tag, manifest.digest]) {
        assertError(await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/${reference}`, headers: { accept } }), 404, 'MANIFEST_UNKNOWN', `${reference} / ${accept}`);
        assertError(await registry.app.inject({ method: 'HEAD', url: `/v2/${name}/manifests/${reference}`, headers: { accept } }), 404, 'MANIFEST_UNKNOWN');
      }
    }
  });

  test('a Docker manifest list by tag, to a client that takes no list: its linux/amd64 image, as registry:2 answers; by digest 404', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await registry.app.inject({ method, url: `/v2/${name}/manifests/docker-list`, headers: { accept: MEDIA_TYPES.dockerManifest } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['content-type'], MEDIA_TYPES.dockerManifest);
      assert.equal(res.headers['docker-content-digest'], pushed.docker!.digest);
      if (method === 'GET') assert.deepEqual(res.rawPayload, pushed.docker!.body);
    }
    const byDigest = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/${pushed.dockerList!.digest}`, headers: { accept: MEDIA_TYPES.dockerManifest } });
    assertError(byDigest, 404, 'MANIFEST_UNKNOWN');
    // A list with no linux/amd64 entry has nothing to offer such a client.
    const armOnly = indexManifest([pushed.docker!], { flavour: 'docker' });
    const armBody = JSON.parse(armOnly.body.toString()) as { manifests: Array<{ platform: { architecture: string } }> };
    armBody.manifests[0]!.platform.architecture = 'arm64';
    const armBytes = Buffer.from(JSON.stringify(armBody));
    assert.equal((await putManifest(registry.app, name, 'arm-list', { ...armOnly, body: armBytes, digest: `sha256:${createHash('sha256').update(armBytes).digest('hex')}` })).statusCode, 201);
    assertError(await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/arm-list`, headers: { accept: MEDIA_TYPES.dockerManifest } }), 404, 'MANIFEST_UNKNOWN');
  });

  test('Accept with no manifest types, or */*, gets the stored type', async () => {
    for (const accept of ['*/*', 'application/json', 'text/plain, */*;q=0.1', '']) {
      const res = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/oci`, headers: { accept } });
      assert.equal(res.statusCode, 200, accept);
      assert.equal(res.headers['content-type'], MEDIA_TYPES.ociManifest);
    }
  });

  test('unknown tag, unknown digest and unknown repository are MANIFEST_UNKNOWN', async () => {
    const unknown = makeBlob('no such manifest').digest;
    for (const url of [`/v2/${name}/manifests/nope`, `/v2/${name}/manifests/${unknown}`, '/v2/pull/nothing-here/manifests/latest', `/v2/pull/nothing-here/manifests/${pushed.oci!.digest}`]) {
      assertError(await registry.app.inject({ method: 'GET', url }), 404, 'MANIFEST_UNKNOWN', url);
      assertError(await registry.app.inject({ method: 'HEAD', url }), 404, 'MANIFEST_UNKNOWN', url);
    }
  });

  test('a manifest pushed to one repository is not served from another by digest', async () => {
    await pushImage(registry.app, 'pull/other', 'v1');
    assertError(await registry.app.inject({ method: 'GET', url: `/v2/pull/other/manifests/${pushed.oci!.digest}` }), 404, 'MANIFEST_UNKNOWN');
  });

  test('a manifest pushed by sha512 digest is served back by that digest', async () => {
    const repo = 'pull/sha512';
    const config = makeBlob('{"sha512":true}');
    await pushBlob(registry.app, repo, config);
    const manifest = imageManifest({ config });
    const digest = `sha512:${createHash('sha512').update(manifest.body).digest('hex')}`;
    const res = await putManifest(registry.app, repo, digest, manifest);
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.headers['docker-content-digest'], digest);
    assert.equal(res.headers.location, `/v2/${repo}/manifests/${digest}`);
    const got = await registry.app.inject({ method: 'GET', url: `/v2/${repo}/manifests/${digest}` });
    assert.equal(got.statusCode, 200, got.body);
    assert.equal(got.headers['docker-content-digest'], digest);
    assert.deepEqual(got.rawPayload, manifest.body);
  });
});

describe('manifest DELETE', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await createTestRegistry();
  });
  after(() => registry.close());

  const tagsOf = async (name: string): Promise<string[]> => (await registry.app.inject({ method: 'GET', url: `/v2/${name}/tags/list` })).json().tags;

  test('DELETE by digest is 202 and removes the revision and every tag naming it', async () => {
    const name = 'del/by-digest';
    const { manifest } = await pushImage(registry.app, name, 'a');
    await pushManifestOk(registry.app, name, 'b', manifest);
    const keep = await pushImage(registry.app, name, 'keep');
    assert.deepEqual(await tagsOf(name), ['a', 'b', 'keep']);

    const res = await registry.app.inject({ method: 'DELETE', url: `/v2/${name}/manifests/${manifest.digest}` });
    assert.equal(res.statusCode, 202);
    assertApiVersion(res);
    for (const ref of ['a', 'b', manifest.digest]) {
      assertError(await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/${ref}` }), 404, 'MANIFEST_UNKNOWN', ref);
    }
    assert.deepEqual(await tagsOf(name), ['keep']);
    const kept = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/keep` });
    assert.equal(kept.headers['docker-content-digest'], keep.manifest.digest);
    // a second delete finds nothing
    assertError(await registry.app.inject({ method: 'DELETE', url: `/v2/${name}/manifests/${manifest.digest}` }), 404, 'MANIFEST_UNKNOWN');
  });

  test('DELETE by tag is 202 and removes only that tag', async () => {
    const name = 'del/by-tag';
    const { manifest } = await pushImage(registry.app, name, 'a');
    await pushManifestOk(registry.app, name, 'b', manifest);
    const res = await registry.app.inject({ method: 'DELETE', url: `/v2/${name}/manifests/a` });
    assert.equal(res.statusCode, 202);
    assertError(await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/a` }), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/b` })).statusCode, 200);
    assert.equal((await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/${manifest.digest}` })).statusCode, 200);
    assert.deepEqual(await tagsOf(name), ['b']);
    assertError(await registry.app.inject({ method: 'DELETE', url: `/v2/${name}/manifests/a` }), 404, 'MANIFEST_UNKNOWN');
  });

  test('DELETE of unknown tags, digests and repositories is MANIFEST_UNKNOWN', async () => {
    await pushImage(registry.app, 'del/known', 'v1');
    for (const url of ['/v2/del/known/manifests/nope', `/v2/del/known/manifests/${makeBlob('zz').digest}`, '/v2/del/never/manifests/v1', `/v2/del/never/manifests/${makeBlob('zz').digest}`]) {
      assertError(await registry.app.inject({ method: 'DELETE', url }), 404, 'MANIFEST_UNKNOWN', url);
    }
  });

  test('DELETE with a malformed reference is TAG_INVALID or DIGEST_INVALID', async () => {
    assertError(await registry.app.inject({ method: 'DELETE', url: '/v2/del/known/manifests/sha256:abc' }), 400, 'DIGEST_INVALID');
    assertError(await registry.app.inject({ method: 'DELETE', url: '/v2/del/known/manifests/-x' }), 400, 'TAG_INVALID');
  });

  test('deleting a manifest of another repository by digest does not touch the original', async () => {
    const { manifest } = await pushImage(registry.app, 'del/origin', 'v1');
    assertError(await registry.app.inject({ method: 'DELETE', url: `/v2/del/thief/manifests/${manifest.digest}` }), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await registry.app.inject({ method: 'GET', url: `/v2/del/origin/manifests/v1` })).statusCode, 200);
  });

  test('a deleted manifest can be pushed again', async () => {
    const name = 'del/again';
    const { manifest } = await pushImage(registry.app, name, 'v1');
    assert.equal((await registry.app.inject({ method: 'DELETE', url: `/v2/${name}/manifests/${manifest.digest}` })).statusCode, 202);
    await pushManifestOk(registry.app, name, 'v1', manifest);
    const got = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/v1` });
    assert.equal(got.statusCode, 200);
    assert.equal(got.headers['docker-content-digest'], manifest.digest);
  });
});
