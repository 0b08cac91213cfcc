// Issue 10, items 1, 2 and 7: what a name (and containerd's ?ns=) maps to, and what is contacted.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ManifestService } from '../../src/distribute/manifest-service.ts';
import { parseReference } from '../../src/oci/index.ts';
import { DockerCredentials } from '../../src/upstream/docker-credentials.ts';
import { UpstreamSet } from '../../src/upstream/upstreams.ts';
import { makeImage, pushImage as pushToSeed, type TestImage } from '../helpers/images.ts';
import { assertError, pushImage } from '../helpers/oci-fixtures.ts';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { freePort, startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';

const ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';

/** A socket that must never be connected to: it counts who tried. */
async function tripwire(): Promise<{ server: Server; host: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { server, host: `127.0.0.1:${address.port}`, connections: () => connections };
}

describe('registry names: one cache per (registry, repository), only allowed registries contacted', () => {
  let seed: SeedRegistry;
  let image: TestImage;
  let registry: TestRegistry;
  /** Allowed, but nothing listens there: a registry that is down. */
  let deadHost: string;
  // 127.0.0.2 has no port, so it can be named in the path form too; nothing serves port 80 there.
  const pathHost = '127.0.0.2';

  before(async () => {
    seed = await startSeedRegistry();
    image = await makeImage({ layers: [1024], seed: 'registry-names' });
    await pushToSeed(seed.url, 'library/hello', '1', image);
    await pushToSeed(seed.url, 'team.a/app', 'v1', image);
    await pushToSeed(seed.url, 'plain', '1', image);
    deadHost = `127.0.0.1:${await freePort()}`;
    const router = new UpstreamSet([{ url: seed.url }], { allowedRegistries: [deadHost, pathHost], dockerCredentials: DockerCredentials.empty(), upstreamTimeoutMs: 2000 });
    registry = await createTestRegistry({ router });
  });
  after(async () => {
    await registry?.close();
    await seed?.stop();
    await image?.cleanup();
  });

  const get = (url: string, method: 'GET' | 'HEAD' = 'GET') => registry.app.inject({ method, url, headers: { accept: ACCEPT } });

  test('item 1: a tag cached from the default upstream never answers ?ns= for another registry', async () => {
    const cached = await get('/v2/library/hello/manifests/1');
    assert.equal(cached.statusCode, 200, cached.body);
    assert.equal(cached.headers['docker-content-digest'], image.digest);
    for (const method of ['GET', 'HEAD'] as const) {
      const other = await get(`/v2/library/hello/manifests/1?ns=${deadHost}`, method);
      assertError(other, 503, 'UNAVAILABLE', `${method} ?ns=${deadHost}`);
    }
    const otherTags = await get(`/v2/library/hello/tags/list?ns=${deadHost}`);
    // That registry is down, so its tags are unavailable, like its manifests (not "no such name").
    assertError(otherTags, 503, 'UNAVAILABLE', 'tags of the other registry');
    const otherPath = await get(`/v2/${pathHost}/library/hello/manifests/1`);
    assertError(otherPath, 503, 'UNAVAILABLE', 'path form');
  });

  test('item 1: the ?ns= form and the /v2/<host>/<repo> path form are one repository, stored under <host>/', async () => {
    const pushed = await pushImage(registry.app, `${pathHost}/team/tool`, 'v2');
    const viaNs = await get(`/v2/team/tool/manifests/v2?ns=${pathHost}`);
    assert.equal(viaNs.statusCode, 200, viaNs.body);
    assert.equal(viaNs.headers['docker-content-digest'], pushed.manifest.digest);
    const viaPath = await get(`/v2/${pathHost}/team/tool/manifests/v2`);
    assert.equal(viaPath.headers['docker-content-digest'], pushed.manifest.digest);
    const tags = await get(`/v2/team/tool/tags/list?ns=${pathHost}`);
    assert.deepEqual(JSON.parse(tags.body).tags, ['v2']);
    // The default upstream's repository of the same name is another one: not this tag.
    assertError(await get('/v2/team/tool/manifests/v2'), 404, 'MANIFEST_UNKNOWN', 'default upstream');
    await stat(join(registry.dataDir, 'docker/registry/v2/repositories', pathHost, 'team/tool/_manifests/tags/v2/current/link'));
  });

  test('item 1: the default upstream named by ?ns= or by path is its plain repository (registry:2 layout)', async () => {
    for (const url of [`/v2/library/hello/manifests/1?ns=${seed.host}`, '/v2/library/hello/manifests/1']) {
      const res = await get(url);
      assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
      assert.equal(res.headers['docker-content-digest'], image.digest);
    }
    await stat(join(registry.dataDir, 'docker/registry/v2/repositories/library/hello/_manifests/tags/1/current/link'));
  });

  test('item 1: swarm tag records are looked up by (registry, repository)', async () => {
    const records = new Map([['library/hello:1', { digest: image.digest, timestamp: Date.now() }]]);
    const asked: string[] = [];
    const peers = {
      newestTag: (repository: string, tag: string) => {
        asked.push(repository);
        return records.get(`${repository}:${tag}`);
      },
      fetch: async () => Buffer.from(image.manifest),
    };
    const router = new UpstreamSet([], { allowedRegistries: [deadHost], dockerCredentials: DockerCredentials.empty() });
    const service = new ManifestService(registry.store, router, pino({ level: 'silent' }), { tagTimeoutMs: 1000 }, peers);
    await assert.rejects(service.resolve('library/hello', parseReference('1'), deadHost), /UNAVAILABLE|did not answer|cannot get/);
    assert.deepEqual(asked, [`${deadHost}/library/hello`]);
  });

  test('item 1: swarm tag records name the registry even for the first upstream: another host\'s plain library/hello is not this one\'s', async () => {
    const { store } = registry;
    const records = new Map<string, { digest: string; timestamp: number }>([['library/hello:9', { digest: image.digest, timestamp: Date.now() }]]);
    const peers = { newestTag: (repository: string, tag: string) => records.get(`${repository}:${tag}`), fetch: async () => Buffer.from(image.manifest) };
    // This host's first upstream is down; a peer whose first upstream is another registry announced library/hello:9.
    const router = new UpstreamSet([{ url: `http://${deadHost}` }], { dockerCredentials: DockerCredentials.empty(), upstreamTimeoutMs: 2000 });
    const service = new ManifestService(store, router, pino({ level: 'silent' }), { tagTimeoutMs: 1000 }, peers);
    await assert.rejects(service.resolve('library/hello', parseReference('9')), /cannot get|did not answer|UNAVAILABLE/);
    assert.equal(router.qualifiedName('library/hello'), `${deadHost}/library/hello`);
    records.set(`${deadHost}/library/hello:9`, { digest: image.digest, timestamp: Date.now() });
    const resolved = await service.resolve('library/hello', parseReference('9'));
    assert.equal(resolved.digest.value, image.digest, 'a record of the same registry is used');
    await router.close();
  });

  test('docker\'s library/<name> (shoal as its registry mirror, the user typed `plain`) pulls the seed\'s <name>, as the users\' guide pushes it', async () => {
    const manifest = await get('/v2/library/plain/manifests/1');
    assert.equal(manifest.statusCode, 200, manifest.body);
    assert.equal(manifest.headers['docker-content-digest'], image.digest);
    const layer = image.layers[0]!;
    const blob = await registry.app.inject({ method: 'GET', url: `/v2/library/plain/blobs/${layer.digest}` });
    assert.equal(blob.statusCode, 200);
    assert.equal(blob.rawPayload.length, layer.size);
    assert.deepEqual((await get('/v2/library/plain/tags/list')).json().tags, ['1']);
    assertError(await get('/v2/library/absent/manifests/1'), 404, 'MANIFEST_UNKNOWN');
  });

  test('item 2: ?ns= naming a registry neither configured nor allowed is 404 NAME_UNKNOWN and contacts nothing', async () => {
    const wire = await tripwire();
    const bare = await createTestRegistry();
    try {
      for (const app of [registry.app, bare.app]) {
        for (const url of [
          `/v2/library/x/manifests/latest?ns=${wire.host}`,
          `/v2/library/x/blobs/${image.layers[0]!.digest}?ns=${wire.host}`,
          `/v2/library/x/tags/list?ns=${wire.host}`,
        ]) {
          const res = await app.inject({ method: 'GET', url });
          assertError(res, 404, 'NAME_UNKNOWN', url);
          assert.match(res.body, /allowed-registries/, 'the refusal names the setting that allows it');
        }
        assertError(await app.inject({ method: 'HEAD', url: `/v2/library/x/manifests/latest?ns=${wire.host}` }), 404, 'NAME_UNKNOWN');
      }
      assert.equal(wire.connections(), 0, 'nothing connected to the named address');
    } finally {
      await bare.close();
      wire.server.close();
    }
  });

  test('item 2: a first path component with a dot that is no allowed registry is part of the name (team.a/app on the default upstream)', async () => {
    const res = await get('/v2/team.a/app/manifests/v1');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['docker-content-digest'], image.digest);
    await stat(join(registry.dataDir, 'docker/registry/v2/repositories/team.a/app/_manifests/tags/v1/current/link'));
  });

  test('item 7: an invalid ?ns= is 400 NAME_INVALID', async () => {
    for (const ns of ['../../etc', 'a/b', 'host:99999', 'exa mple.com', '%00', 'bad_host']) {
      for (const path of ['/v2/a/manifests/latest', '/v2/a/tags/list', `/v2/a/blobs/${image.layers[0]!.digest}`]) {
        const url = `${path}?ns=${encodeURIComponent(ns)}`;
        assertError(await registry.app.inject({ method: 'GET', url }), 400, 'NAME_INVALID', url);
      }
    }
  });
});
