import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { MEDIA_TYPES, OciError, digestOf, parseManifest } from '../../src/oci/index.ts';
import { Store } from '../../src/store/index.ts';
import { eventually } from '../helpers/eventually.ts';

describe('RepositoryStore and ManifestStore (registry:2 layout)', () => {
  let dir: string;
  let store: Store;
  const v2 = (...parts: string[]): string => join(dir, 'docker/registry/v2', ...parts);
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-store-repos-'));
    ({ store } = await Store.open(dir));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const manifestBody = (subject?: string, artifactType?: string): Buffer =>
    Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      ...(artifactType ? { artifactType } : {}),
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf('{}').value, size: 2 },
      layers: [],
      ...(subject ? { subject: { mediaType: MEDIA_TYPES.ociManifest, digest: subject, size: 1 } } : {}),
    }));

  test('links are files naming the digest, where registry:2 puts them', async () => {
    const blob = digestOf('blob');
    await store.repositories.linkBlob('lib/app', blob);
    assert.equal(await readFile(v2('repositories/lib/app/_layers/sha256', blob.hex, 'link'), 'utf8'), blob.value);
    const body = manifestBody();
    const digest = await store.manifests.put('lib/app', body, parseManifest(body, undefined), 'v1');
    assert.equal(await readFile(v2('repositories/lib/app/_manifests/revisions/sha256', digest.hex, 'link'), 'utf8'), digest.value);
    assert.equal(await readFile(v2('repositories/lib/app/_manifests/tags/v1/current/link'), 'utf8'), digest.value);
    assert.equal(await readFile(v2('repositories/lib/app/_manifests/tags/v1/index/sha256', digest.hex, 'link'), 'utf8'), digest.value);
    assert.ok((await readFile(v2('blobs/sha256', digest.hex.slice(0, 2), digest.hex, 'data'))).equals(body));
  });

  test('reads what registry:2 wrote: tags, revisions and the catalog', async () => {
    const body = manifestBody();
    const digest = digestOf(body);
    await mkdir(v2('blobs/sha256', digest.hex.slice(0, 2), digest.hex), { recursive: true });
    await writeFile(v2('blobs/sha256', digest.hex.slice(0, 2), digest.hex, 'data'), body);
    for (const link of ['_manifests/revisions/sha256/' + digest.hex, '_manifests/tags/latest/current']) {
      await mkdir(v2('repositories/org/tool', link), { recursive: true });
      await writeFile(v2('repositories/org/tool', link, 'link'), digest.value);
    }
    // a tag directory without current/link (half-deleted) and a name registry:2 would not write
    await mkdir(v2('repositories/org/tool/_manifests/tags/orphan/index'), { recursive: true });
    await mkdir(v2('repositories/org/tool/_manifests/tags/.bad'), { recursive: true });
    assert.deepEqual(await store.repositories.tags('org/tool'), ['latest']);
    assert.equal((await store.repositories.resolveTag('org/tool', 'latest'))?.value, digest.value);
    assert.deepEqual((await store.repositories.manifests('org/tool')).map((d) => d.value), [digest.value]);
    assert.equal((await store.manifests.get('org/tool', digest))?.mediaType, MEDIA_TYPES.ociManifest);
    assert.deepEqual(await store.repositories.repositories(), ['org/tool']);
    assert.equal(await store.repositories.exists('org/tool'), true);
    assert.equal(await store.repositories.exists('org/none'), false);
  });

  test('tags sort byte-wise; untag and unlinkManifest remove what they should', async () => {
    const a = manifestBody(undefined, 'a/a');
    const b = manifestBody(undefined, 'b/b');
    const da = await store.manifests.put('r', a, parseManifest(a, undefined), 'b-tag');
    await store.repositories.tag('r', 'A-tag', da);
    const db = await store.manifests.put('r', b, parseManifest(b, undefined), 'a-tag');
    assert.deepEqual(await store.repositories.tags('r'), ['A-tag', 'a-tag', 'b-tag']);
    assert.equal(await store.repositories.untag('r', 'a-tag'), true);
    assert.equal(await store.repositories.untag('r', 'a-tag'), false);
    assert.equal(await store.repositories.hasManifest('r', db), true);
    assert.deepEqual((await store.repositories.unlinkManifest('r', da)).sort(), ['A-tag', 'b-tag']);
    assert.deepEqual(await store.repositories.tags('r'), []);
    assert.equal(await store.repositories.hasManifest('r', da), false);
    assert.equal(await store.manifests.get('r', da), undefined);
    // the content stays: other repositories may name it
    assert.ok(await store.manifests.read(da));
  });

  test('referrers: by subject, filtered by artifactType, skipping manifests that do not parse', async () => {
    const subject = digestOf('subject').value;
    const sig = manifestBody(subject, 'application/x.sig');
    const sbom = manifestBody(subject, 'application/x.sbom');
    const plain = manifestBody();
    for (const body of [sig, sbom, plain]) await store.manifests.put('r', body, parseManifest(body, undefined));
    // a schema 1 manifest written by an old registry
    const schema1 = Buffer.from('{"schemaVersion":1,"name":"r","tag":"old","fsLayers":[]}');
    const d1 = await store.blobs.put(schema1);
    await store.repositories.linkManifest('r', d1);
    const found = await store.manifests.referrers('r', digestOf('subject'));
    assert.deepEqual(found.map((d) => d.digest.value).sort(), [digestOf(sig).value, digestOf(sbom).value].sort());
    const sigOnly = await store.manifests.referrers('r', digestOf('subject'), 'application/x.sig');
    assert.deepEqual(sigOnly.map((d) => [d.digest.value, d.artifactType, d.size]), [[digestOf(sig).value, 'application/x.sig', sig.byteLength]]);
    assert.deepEqual(await store.manifests.referrers('nobody', digestOf('subject')), []);
  });

  test('a stored manifest whose bytes no longer match its digest is reported, not served', async () => {
    const body = manifestBody();
    const digest = await store.manifests.put('r', body, parseManifest(body, undefined), 'v1');
    const { store: fresh } = await Store.open(dir); // no parse cache
    await writeFile(v2('blobs/sha256', digest.hex.slice(0, 2), digest.hex, 'data'), manifestBody(undefined, 'x/tampered'));
    await assert.rejects(fresh.manifests.read(digest), (e: unknown) => e instanceof OciError && e.code === 'UNKNOWN');
  });
});

describe('seed-tags.json', () => {
  test('a tag deleted here drops its record of coming from the seed, on disk too; other tags keep theirs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-store-seed-tags-'));
    try {
      const { store } = await Store.open(dir);
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf('{}').value, size: 2 }, layers: [] }));
      const digest = await store.manifests.put('lib/app', body, parseManifest(body, undefined), 'gone');
      await store.repositories.tag('lib/app', 'kept', digest);
      await store.seedTags.record('lib/app', digest, 'gone');
      await store.seedTags.record('lib/app', digest, 'kept');
      assert.equal(await store.repositories.untag('lib/app', 'gone'), true);
      await eventually(async () => !(await readFile(store.seedTags.path, 'utf8')).includes('"gone"'), 5_000, 'seed-tags.json to drop the deleted tag');
      const { store: reopened } = await Store.open(dir);
      assert.equal(reopened.seedTags.pushedTag('lib/app', 'gone'), undefined);
      assert.equal(reopened.seedTags.pushedTag('lib/app', 'kept'), digest.value);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
