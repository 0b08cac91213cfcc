import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_MANIFEST_BYTES, MEDIA_TYPES, OciError, acceptsMediaType, bareMediaType, parseDescriptor, parseManifest } from '../../src/oci/index.ts';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('a'), size: 10 };
const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('b'), size: 20 };
const body = (json: unknown): Buffer => Buffer.from(JSON.stringify(json));
const isInvalid = (error: unknown): boolean => error instanceof OciError && error.code === 'MANIFEST_INVALID' && error.status === 400;

describe('parseManifest', () => {
  test('an OCI image manifest: blobs are config then layers; artifactType falls back to config.mediaType', () => {
    const parsed = parseManifest(body({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config, layers: [layer], annotations: { a: 'b' } }), undefined);
    assert.equal(parsed.mediaType, MEDIA_TYPES.ociManifest);
    assert.deepEqual(parsed.blobs.map((b) => [b.digest.value, b.size, b.mediaType]), [[d('a'), 10, config.mediaType], [d('b'), 20, layer.mediaType]]);
    assert.deepEqual(parsed.manifests, []);
    assert.equal(parsed.artifactType, config.mediaType);
    assert.deepEqual(parsed.annotations, { a: 'b' });
    assert.equal(parsed.subject, undefined);
  });

  test('artifactType and subject are read when present', () => {
    const subject = { mediaType: MEDIA_TYPES.ociManifest, digest: d('c'), size: 5 };
    const parsed = parseManifest(body({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, artifactType: 'application/x.sig', config, layers: [], subject }), MEDIA_TYPES.ociManifest);
    assert.equal(parsed.artifactType, 'application/x.sig');
    assert.equal(parsed.subject?.digest.value, d('c'));
  });

  test('Docker schema2 and manifest list, OCI index: their children are manifests, not blobs', () => {
    const docker = parseManifest(body({ schemaVersion: 2, mediaType: MEDIA_TYPES.dockerManifest, config, layers: [layer] }), MEDIA_TYPES.dockerManifest);
    assert.equal(docker.mediaType, MEDIA_TYPES.dockerManifest);
    assert.equal(docker.blobs.length, 2);
    for (const mediaType of [MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociIndex]) {
      const child = { mediaType: MEDIA_TYPES.ociManifest, digest: d('e'), size: 300, platform: { os: 'linux', architecture: 'amd64' } };
      const index = parseManifest(body({ schemaVersion: 2, mediaType, manifests: [child] }), mediaType);
      assert.equal(index.mediaType, mediaType);
      assert.deepEqual(index.blobs, []);
      assert.deepEqual(index.manifests.map((m) => m.digest.value), [d('e')]);
    }
  });

  test('with no mediaType in the body: Content-Type, else the shape decides', () => {
    assert.equal(parseManifest(body({ schemaVersion: 2, config, layers: [] }), `${MEDIA_TYPES.dockerManifest}; charset=utf-8`).mediaType, MEDIA_TYPES.dockerManifest);
    assert.equal(parseManifest(body({ schemaVersion: 2, config, layers: [] }), 'application/json').mediaType, MEDIA_TYPES.ociManifest);
    assert.equal(parseManifest(body({ schemaVersion: 2, manifests: [] }), undefined).mediaType, MEDIA_TYPES.ociIndex);
  });

  test('a Content-Type that is not a manifest type (application/json) does not conflict', () => {
    assert.equal(parseManifest(body({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config, layers: [] }), 'application/json').mediaType, MEDIA_TYPES.ociManifest);
  });

  test('refuses what is not a schema 2 manifest', () => {
    const cases: Array<[unknown, string?]> = [
      [{ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }],
      [{ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, layers: [] }],
      [{ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config }],
      [{ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config, layers: [{ ...layer, digest: 'sha256:short' }] }],
      [{ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config, layers: [{ ...layer, size: -5 }] }],
      [{ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config, layers: [null] }],
      [{ schemaVersion: 2, mediaType: 7, config, layers: [] }],
      [{ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, artifactType: 3, config, layers: [] }],
      [{ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config, layers: [], annotations: [] }],
      [{ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: {} }],
      [{ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config, layers: [] }, MEDIA_TYPES.dockerManifest],
      [{ schemaVersion: 2, mediaType: 'text/plain', config, layers: [] }],
      [null],
      [[1, 2]],
    ];
    for (const [json, contentType] of cases) {
      assert.throws(() => parseManifest(body(json), contentType), isInvalid, JSON.stringify(json));
    }
    assert.throws(() => parseManifest(Buffer.from('{not json'), undefined), isInvalid);
    assert.throws(() => parseManifest(Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20), undefined), isInvalid);
  });

  test('property: arbitrary JSON either parses or is MANIFEST_INVALID, never another error', () => {
    const descriptorLike = fc.record({ mediaType: fc.oneof(fc.string(), fc.constant(layer.mediaType)), digest: fc.oneof(fc.string(), fc.constant(d('f'))), size: fc.oneof(fc.integer(), fc.double(), fc.string()) }, { requiredKeys: [] });
    const manifestLike = fc.record(
      {
        schemaVersion: fc.oneof(fc.constant(2), fc.jsonValue()),
        mediaType: fc.oneof(fc.constantFrom(...Object.values(MEDIA_TYPES)), fc.jsonValue()),
        config: fc.oneof(descriptorLike, fc.jsonValue()),
        layers: fc.oneof(fc.array(descriptorLike, { maxLength: 3 }), fc.jsonValue()),
        manifests: fc.oneof(fc.array(descriptorLike, { maxLength: 3 }), fc.jsonValue()),
        subject: fc.oneof(descriptorLike, fc.jsonValue()),
        annotations: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.jsonValue()),
        artifactType: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(manifestLike, fc.jsonValue()), fc.option(fc.constantFrom(...Object.values(MEDIA_TYPES), 'application/json'), { nil: undefined }), (json, contentType) => {
        try {
          const parsed = parseManifest(body(json), contentType);
          assert.ok(Object.values(MEDIA_TYPES).includes(parsed.mediaType as never));
        } catch (error) {
          assert.ok(isInvalid(error), String(error));
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('parseDescriptor keeps artifactType and annotations', () => {
    const parsed = parseDescriptor({ ...layer, artifactType: 'a/b', annotations: { k: 'v' } }, 'x');
    assert.equal(parsed.artifactType, 'a/b');
    assert.deepEqual(parsed.annotations, { k: 'v' });
  });
});

describe('acceptsMediaType', () => {
  test('no Accept, */* or only non-manifest types: anything is served', () => {
    for (const accept of [undefined, '', '*/*', 'application/json', 'text/html, application/xml;q=0.9', ['application/json']]) {
      assert.equal(acceptsMediaType(accept, MEDIA_TYPES.ociManifest), true, String(accept));
    }
  });

  test('a list of manifest types must include the stored one', () => {
    assert.equal(acceptsMediaType(MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociManifest), true);
    assert.equal(acceptsMediaType(`${MEDIA_TYPES.dockerManifest};q=0.5, ${MEDIA_TYPES.ociManifest}`, MEDIA_TYPES.ociManifest), true);
    assert.equal(acceptsMediaType([MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerManifestList], MEDIA_TYPES.dockerManifestList), true);
    assert.equal(acceptsMediaType(MEDIA_TYPES.dockerManifest, MEDIA_TYPES.ociManifest), false);
    assert.equal(acceptsMediaType([MEDIA_TYPES.ociManifest, 'application/json'], MEDIA_TYPES.ociIndex), false);
    assert.equal(acceptsMediaType(MEDIA_TYPES.ociManifest.toUpperCase(), MEDIA_TYPES.ociManifest), true);
  });

  test('bareMediaType strips parameters and case', () => {
    assert.equal(bareMediaType('Application/JSON; charset=utf-8'), 'application/json');
    assert.equal(bareMediaType(undefined), undefined);
    assert.equal(bareMediaType(' ; q=1'), undefined);
  });
});
