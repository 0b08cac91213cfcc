// While the seed is down, a tag this node took from the seed stays the seed's: the tag cached here
// is served, not a swarm member's push of the same tag (audit F9: every node served the member's
// image whenever the seed missed its tag timeout, and the seed's again when it answered). A tag
// that is not the seed's still follows the swarm's newest push (tag-repush.test.ts, end to end).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ManifestService, type ManifestPeers } from '../../src/distribute/manifest-service.ts';
import { parseReference } from '../../src/oci/index.ts';
import { makeImage, pushImage as pushToSeed, type TestImage } from '../helpers/images.ts';
import { imageManifest, pushImage, type TestManifest } from '../helpers/oci-fixtures.ts';
import { startTestMirror, type TestMirror } from '../helpers/test-mirror.ts';

const ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';

describe('a seed-owned tag pushed again by a swarm member, with the seed down', () => {
  let mirror: TestMirror;
  let image: TestImage;
  /** The member's image, pushed to its own node under the same names. */
  const theirs: TestManifest = imageManifest();
  /** A ManifestService on the test registry's store whose swarm says `theirs` was pushed last, for any tag. */
  const service = (): ManifestService => {
    const peers: ManifestPeers = {
      newestTag: () => ({ digest: theirs.digest, timestamp: Date.now(), pushed: true }),
      fetch: async (_name, digest) => (digest.value === theirs.digest ? theirs.body : undefined),
    };
    return new ManifestService(mirror.registry.store, mirror.router, pino({ level: 'silent' }), { tagTimeoutMs: 2000 }, peers);
  };

  before(async () => {
    mirror = await startTestMirror();
    image = await makeImage({ layers: [1024], seed: 'seed-tag-outage' });
  });
  after(async () => {
    await mirror?.close();
    await image?.cleanup();
  });

  test('the tag cached from the seed is served while the seed is down; a tag pushed here follows the swarm', async () => {
    const { seed, registry } = mirror;
    await pushToSeed(seed.url, 'alpha/a', 'v1', image);
    assert.equal((await registry.app.inject({ method: 'GET', url: '/v2/alpha/a/manifests/v1', headers: { accept: ACCEPT } })).statusCode, 200);
    const mine = (await pushImage(registry.app, 'alpha/mine', 'v1')).manifest;
    const resolver = service();
    assert.equal((await resolver.resolve('alpha/a', parseReference('v1'))).digest.value, image.digest, 'seed up: the seed is authoritative');

    await seed.stop();
    const during = await resolver.resolve('alpha/a', parseReference('v1'));
    assert.equal(during.digest.value, image.digest, 'seed down: the tag cached from the seed, not the member\'s push');
    assert.equal(during.origin, 'cache-seed-down');
    assert.equal((await registry.store.repositories.resolveTag('alpha/a', 'v1'))?.value, image.digest, 'the tag here still names the seed\'s image');

    // Not the seed's: pushed here first, pushed again by a member later; the last writer wins.
    assert.notEqual(mine.digest, theirs.digest);
    assert.equal((await resolver.resolve('alpha/mine', parseReference('v1'))).digest.value, theirs.digest, 'a pushed tag follows the newest push');
  });
});
