// The seed is authoritative for tags: one it no longer has (404) stops answering on a node that
// only pulled it, while a tag pushed to the swarm (here, or to another node) outlives the 404.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ManifestService, type ManifestPeers } from '../../src/distribute/manifest-service.ts';
import { parseReference } from '../../src/oci/index.ts';
import { DockerCredentials } from '../../src/upstream/docker-credentials.ts';
import { UpstreamSet } from '../../src/upstream/upstreams.ts';
import { makeImage, pushImage as pushToSeed, type TestImage } from '../helpers/images.ts';
import { assertError, pushImage } from '../helpers/oci-fixtures.ts';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';

const ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';

type Announced = ReturnType<ManifestPeers['newestTag']>;

describe('a tag the seed no longer has', () => {
  let seed: SeedRegistry;
  let image: TestImage;
  let registry: TestRegistry;
  let router: UpstreamSet;

  before(async () => {
    seed = await startSeedRegistry();
    image = await makeImage({ layers: [1024], seed: 'tag-withdrawn' });
    router = new UpstreamSet([{ url: seed.url }], { dockerCredentials: DockerCredentials.empty(), upstreamTimeoutMs: 5000 });
    registry = await createTestRegistry({ router });
  });
  after(async () => {
    await registry?.close();
    await router?.close();
    await seed?.stop();
    await image?.cleanup();
  });

  const get = (url: string) => registry.app.inject({ method: 'GET', url, headers: { accept: ACCEPT } });
  const deleteOnSeed = async (repo: string): Promise<void> => {
    const res = await fetch(`${seed.url}/v2/${repo}/manifests/${image.digest}`, { method: 'DELETE' });
    assert.equal(res.status, 202, await res.text());
  };
  /** The key of a swarm tag record: tags carry their registry's name (RegistryNames.qualifiedName). */
  const recordKey = (repo: string, tag: string): string => `${router.qualifiedName(repo)}:${tag}`;
  /** A ManifestService on the test registry's store, with the swarm's newest record given. */
  const withSwarm = (records: Map<string, NonNullable<Announced>>): ManifestService => {
    const peers: ManifestPeers = { newestTag: (repository, tag) => records.get(`${repository}:${tag}`), fetch: async () => Buffer.from(image.manifest) };
    return new ManifestService(registry.store, router, pino({ level: 'silent' }), { tagTimeoutMs: 2000 }, peers);
  };

  test('pulled through, then deleted on the seed: 404 here, the tag is gone from the list and its removal told to the swarm; by digest it still pulls', async () => {
    await pushToSeed(seed.url, 'gone/app', '1', image);
    assert.equal((await get('/v2/gone/app/manifests/1')).statusCode, 200);
    assert.deepEqual((await get('/v2/gone/app/tags/list')).json().tags, ['1']);
    const untagged: string[] = [];
    const stop = registry.store.repositories.onUntagged((name, tag) => untagged.push(`${name}:${tag}`));
    try {
      await deleteOnSeed('gone/app');
      assertError(await get('/v2/gone/app/manifests/1'), 404, 'MANIFEST_UNKNOWN');
      assert.deepEqual(untagged, ['gone/app:1']);
      assert.deepEqual((await get('/v2/gone/app/tags/list')).json().tags, []);
      assert.equal((await get(`/v2/gone/app/manifests/${image.digest}`)).statusCode, 200, 'the manifest itself stays, by digest');
    } finally {
      stop();
    }
  });

  test('pushed here, unknown to the seed: served', async () => {
    const pushed = await pushImage(registry.app, 'mine/app', 'v1');
    const res = await get('/v2/mine/app/manifests/v1');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['docker-content-digest'], pushed.manifest.digest);
  });

  test('pushed to another node (the newest record says pushed): resolved from the swarm and kept after the seed\'s 404', async () => {
    const records = new Map<string, NonNullable<Announced>>([[recordKey('theirs/app', '1'), { digest: image.digest, timestamp: Date.now(), pushed: true }]]);
    const service = withSwarm(records);
    const first = await service.resolve('theirs/app', parseReference('1'));
    assert.equal(first.digest.value, image.digest);
    assert.equal((await registry.store.repositories.resolveTag('theirs/app', '1'))?.value, image.digest, 'tagged here');
    const again = await service.resolve('theirs/app', parseReference('1'));
    assert.equal(again.digest.value, image.digest, 'the cached copy of a pushed tag stays');
    assert.equal(again.origin, 'local');
  });

  test('announced by a peer that only pulled it (no pushed flag): the seed\'s 404 wins', async () => {
    const records = new Map<string, NonNullable<Announced>>([[recordKey('pulled/app', '1'), { digest: image.digest, timestamp: Date.now() }]]);
    await assert.rejects(withSwarm(records).resolve('pulled/app', parseReference('1')), /MANIFEST_UNKNOWN|unknown/);
  });

  test('pulled here while a peer\'s pushed record names another digest: the seed\'s 404 removes this one; the pushed one, which no peer can send now, is 503, not unknown', async () => {
    await pushToSeed(seed.url, 'moved/app', '1', image);
    assert.equal((await get('/v2/moved/app/manifests/1')).statusCode, 200);
    await deleteOnSeed('moved/app');
    const other = `sha256:${'1'.repeat(64)}`;
    const records = new Map<string, NonNullable<Announced>>([[recordKey('moved/app', '1'), { digest: other, timestamp: Date.now(), pushed: true }]]);
    const service = new ManifestService(registry.store, router, pino({ level: 'silent' }), { tagTimeoutMs: 2000 }, { newestTag: (r, t) => records.get(`${r}:${t}`), fetch: async () => undefined });
    await assert.rejects(service.resolve('moved/app', parseReference('1')), (error: Error & { code?: string }) => error.code === 'UNAVAILABLE' && /announced in the swarm as sha256:1{64}, but no peer could send it now/.test(error.message));
    assert.equal(await registry.store.repositories.resolveTag('moved/app', '1'), undefined);
  });

  test('a tag this node took from the swarm, not from the seed, is not the seed\'s to withdraw (after a restart no record may say it was pushed)', async () => {
    const records = new Map<string, NonNullable<Announced>>([[recordKey('swarm/app', '1'), { digest: image.digest, timestamp: Date.now(), pushed: true }]]);
    assert.equal((await withSwarm(records).resolve('swarm/app', parseReference('1'))).digest.value, image.digest);
    // The swarm forgot (its hosts restarted): the seed's 404 alone does not remove the tag here.
    const again = await withSwarm(new Map()).resolve('swarm/app', parseReference('1'));
    assert.equal(again.digest.value, image.digest);
    assert.equal((await registry.store.repositories.resolveTag('swarm/app', '1'))?.value, image.digest);
  });

  test('where a tag came from is kept across a restart: pulled from the seed, restarted, deleted on the seed: withdrawn', async () => {
    await pushToSeed(seed.url, 'later/app', '1', image);
    assert.equal((await get('/v2/later/app/manifests/1')).statusCode, 200);
    const reopened = await createTestRegistry({ router, dataDir: registry.dataDir });
    try {
      await deleteOnSeed('later/app');
      assertError(await reopened.app.inject({ method: 'GET', url: '/v2/later/app/manifests/1', headers: { accept: ACCEPT } }), 404, 'MANIFEST_UNKNOWN');
    } finally {
      await reopened.close();
    }
  });

  test('pushed here, then the seed\'s own tag of that name took over, then the seed withdrew it: the tag names the pushed image again', async () => {
    await pushToSeed(seed.url, 'both/app', 'v4', image);
    const pushed = await pushImage(registry.app, 'both/app', 'v4');
    // The seed is authoritative while it has the tag.
    assert.equal((await get('/v2/both/app/manifests/v4')).headers['docker-content-digest'], image.digest);
    await deleteOnSeed('both/app');
    const back = await get('/v2/both/app/manifests/v4');
    assert.equal(back.statusCode, 200, back.body);
    assert.equal(back.headers['docker-content-digest'], pushed.manifest.digest);
  });
});
