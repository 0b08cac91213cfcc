// A seed that refuses shoal's own credentials: the client gets 503 saying the seed refused shoal
// and what to fix (a 401 told docker to log in to shoal; "did not answer" hid that the seed had
// answered). A real registry:2 seed with an htpasswd file, shoal given a wrong password.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DockerCredentials } from '../../src/upstream/docker-credentials.ts';
import { UpstreamSet } from '../../src/upstream/upstreams.ts';
import { makeImage, pushImage as pushToSeed, type TestImage } from '../helpers/images.ts';
import { assertError } from '../helpers/oci-fixtures.ts';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';

const BOB = { username: 'bob', password: 'right' };

describe('a seed that refuses shoal\'s credentials', () => {
  let seed: SeedRegistry;
  let image: TestImage;
  let router: UpstreamSet;
  let registry: TestRegistry;
  before(async () => {
    seed = await startSeedRegistry({ auth: { htpasswd: BOB } });
    image = await makeImage({ layers: [2048], seed: 'seed-refuses' });
    await pushToSeed(seed.url, 'private/app', '1', image, { auth: BOB });
    router = new UpstreamSet([{ url: seed.url, credentials: { username: 'bob', password: 'wrong' } }], { dockerCredentials: DockerCredentials.empty(), upstreamTimeoutMs: 5000 });
    registry = await createTestRegistry({ router });
  });
  after(async () => {
    await registry?.close();
    await router?.close();
    await seed?.stop();
    await image?.cleanup();
  });

  const refused = /^the seed registry refused shoal \(upstream \S+ rejected the credentials of user "bob".*\); fix the credentials shoal has for it/;

  test('a manifest: 503 naming the refusal and the fix, not "did not answer"', async () => {
    const res = await registry.app.inject({ method: 'GET', url: '/v2/private/app/manifests/1' });
    assertError(res, 503, 'UNAVAILABLE');
    assert.match(res.json().errors[0].message, refused);
  });

  test('a blob: 503 as well, not a 401 that tells docker to log in to shoal', async () => {
    const res = await registry.app.inject({ method: 'GET', url: `/v2/private/app/blobs/${image.layers[0]!.digest}` });
    assertError(res, 503, 'UNAVAILABLE');
    assert.match(res.json().errors[0].message, refused);
  });
});
