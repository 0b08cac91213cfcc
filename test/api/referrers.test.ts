import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { MEDIA_TYPES, assertApiVersion, assertError, imageManifest, indexManifest, makeBlob, pushBlob, pushImage, pushManifestOk, type Response, type TestManifest } from '../helpers/oci-fixtures.ts';

const EMPTY_TYPE = 'application/vnd.oci.empty.v1+json';
const SIG = 'application/vnd.example.signature';
const SBOM = 'application/vnd.example.sbom';

interface IndexBody {
  schemaVersion: number;
  mediaType: string;
  manifests: Array<{ mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> }>;
}

describe('referrers API', () => {
  let registry: TestRegistry;
  const name = 'ref/app';
  let subject: TestManifest;
  let signature: TestManifest;
  let sbom: TestManifest;
  let bundle: TestManifest;
  const empty = makeBlob('{}');
  before(async () => {
    registry = await createTestRegistry();
    subject = (await pushImage(registry.app, name, 'v1')).manifest;
    await pushBlob(registry.app, name, empty);
    // artifactType given explicitly, with annotations
    signature = imageManifest({ config: empty, configMediaType: EMPTY_TYPE, artifactType: SIG, layers: [], subject, annotations: { 'org.example.signer': 'alice' } });
    await pushManifestOk(registry.app, name, signature.digest, signature);
    // no artifactType: the config's mediaType is reported
    const sbomConfig = makeBlob('{"sbom":true}');
    await pushBlob(registry.app, name, sbomConfig);
    sbom = imageManifest({ config: sbomConfig, configMediaType: SBOM, layers: [], subject });
    await pushManifestOk(registry.app, name, sbom.digest, sbom);
    // an index may refer too
    bundle = indexManifest([signature], { subject, artifactType: 'application/vnd.example.bundle', annotations: { 'org.example.kind': 'bundle' } });
    await pushManifestOk(registry.app, name, bundle.digest, bundle);
    // an image with no subject, and one referring to something else, must not show up
    await pushImage(registry.app, name, 'unrelated');
    const other = imageManifest({ config: empty, configMediaType: EMPTY_TYPE, artifactType: SIG, subject: signature });
    await pushManifestOk(registry.app, name, other.digest, other);
  });
  after(() => registry.close());

  const referrers = (digest: string, query = '', repo = name): Promise<Response> => registry.app.inject({ method: 'GET', url: `/v2/${repo}/referrers/${digest}${query}` });
  const byDigest = (body: IndexBody): Map<string, IndexBody['manifests'][number]> => new Map(body.manifests.map((m) => [m.digest, m]));

  test('lists the manifests whose subject is the digest, as an OCI index', async () => {
    const res = await referrers(subject.digest);
    assert.equal(res.statusCode, 200, res.body);
    assertApiVersion(res);
    assert.equal(res.headers['content-type'], MEDIA_TYPES.ociIndex);
    assert.equal(res.headers['oci-filters-applied'], undefined);
    const body = res.json() as IndexBody;
    assert.equal(body.schemaVersion, 2);
    assert.equal(body.mediaType, MEDIA_TYPES.ociIndex);
    const found = byDigest(body);
    assert.deepEqual([...found.keys()].sort(), [signature.digest, sbom.digest, bundle.digest].sort());
    assert.deepEqual(found.get(signature.digest), {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: signature.digest,
      size: signature.body.byteLength,
      artifactType: SIG,
      annotations: { 'org.example.signer': 'alice' },
    });
    assert.deepEqual(found.get(sbom.digest), { mediaType: MEDIA_TYPES.ociManifest, digest: sbom.digest, size: sbom.body.byteLength, artifactType: SBOM });
    assert.deepEqual(found.get(bundle.digest), {
      mediaType: MEDIA_TYPES.ociIndex,
      digest: bundle.digest,
      size: bundle.body.byteLength,
      artifactType: 'application/vnd.example.bundle',
      annotations: { 'org.example.kind': 'bundle' },
    });
  });

  test('?artifactType= filters and says so with OCI-Filters-Applied', async () => {
    const res = await referrers(subject.digest, `?artifactType=${encodeURIComponent(SBOM)}`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['oci-filters-applied'], 'artifactType');
    assert.equal(res.headers['content-type'], MEDIA_TYPES.ociIndex);
    assert.deepEqual((res.json() as IndexBody).manifests.map((m) => m.digest), [sbom.digest]);

    const none = await referrers(subject.digest, '?artifactType=application/vnd.nothing');
    assert.equal(none.headers['oci-filters-applied'], 'artifactType');
    assert.deepEqual((none.json() as IndexBody).manifests, []);
  });

  test('a subject that does not exist may still have referrers; one with none is an empty index', async () => {
    const ghost = makeBlob('ghost subject');
    const dangling = imageManifest({ config: empty, configMediaType: EMPTY_TYPE, artifactType: SIG, subject: { mediaType: MEDIA_TYPES.ociManifest, digest: ghost.digest, size: ghost.size } });
    await pushManifestOk(registry.app, name, dangling.digest, dangling);
    const res = await referrers(ghost.digest);
    assert.equal(res.statusCode, 200);
    assert.deepEqual((res.json() as IndexBody).manifests.map((m) => m.digest), [dangling.digest]);

    const lonely = await referrers(makeBlob('nobody refers to me').digest);
    assert.equal(lonely.statusCode, 200);
    assert.equal(lonely.headers['content-type'], MEDIA_TYPES.ociIndex);
    assert.deepEqual(lonely.json(), { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] });
  });

  test('an unknown repository answers an empty index', async () => {
    const res = await referrers(subject.digest, '', 'ref/unknown');
    assert.equal(res.statusCode, 200);
    assert.deepEqual((res.json() as IndexBody).manifests, []);
  });

  test('referrers are per repository', async () => {
    const res = await referrers(subject.digest, '', 'ref/other');
    assert.deepEqual((res.json() as IndexBody).manifests, []);
  });

  test('a deleted referrer disappears from the list', async () => {
    const extra = imageManifest({ config: empty, configMediaType: EMPTY_TYPE, artifactType: 'application/vnd.example.temp', subject });
    await pushManifestOk(registry.app, name, extra.digest, extra);
    const before = (await referrers(subject.digest)).json() as IndexBody;
    assert.ok(before.manifests.some((m) => m.digest === extra.digest));
    assert.equal((await registry.app.inject({ method: 'DELETE', url: `/v2/${name}/manifests/${extra.digest}` })).statusCode, 202);
    const after = (await referrers(subject.digest)).json() as IndexBody;
    assert.ok(!after.manifests.some((m) => m.digest === extra.digest));
  });

  test('a malformed digest is DIGEST_INVALID; a bad name NAME_INVALID', async () => {
    for (const digest of ['sha256:totallywrong', 'md5:abc', 'latest', `SHA256:${subject.digest.slice(7)}`]) {
      assertError(await referrers(digest), 400, 'DIGEST_INVALID', digest);
    }
    assertError(await referrers(subject.digest, '', 'Ref/App'), 400, 'NAME_INVALID');
  });
});
