// Which repositories a mirror's manifest GETs by digest write into, by the rule blobs follow
// (repo-links.test.ts): a manifest held here for one repository is served under any name, but is
// linked only into a repository that exists here, so anonymous GETs cannot make repositories (an
// audit made `junk/1/a/b` … `junk/20/a/b` appear on disk and in the catalog). A manifest list
// pushed into a new repository on a child held under another name is still accepted and linked.
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { ManifestService } from '../../src/distribute/manifest-service.ts';
import { parseDigest, parseReference } from '../../src/oci/index.ts';
import { indexManifest, pushImage, putManifest, type TestManifest } from '../helpers/oci-fixtures.ts';
import { NO_UPSTREAMS, type TestRegistry } from '../helpers/registry-app.ts';
import { startTestMirror, type TestMirror } from '../helpers/test-mirror.ts';

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

describe('manifest links in a mirror', () => {
  let mirror: TestMirror;
  let registry: TestRegistry;
  let held: TestManifest;
  const repoDir = (repo: string): string => join(registry.dataDir, 'docker', 'registry', 'v2', 'repositories', repo);
  const catalog = async (): Promise<string[]> => (await registry.app.inject({ method: 'GET', url: '/v2/_catalog' })).json().repositories;
  before(async () => {
    mirror = await startTestMirror();
    registry = mirror.registry;
    held = (await pushImage(registry.app, 'held/app', '1')).manifest;
  });
  after(() => mirror?.close());

  test('a GET or HEAD by digest under a name that is no repository here is served and writes nothing', async () => {
    for (const name of ['junk-get', 'junk/1/a/b']) {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await registry.app.inject({ method, url: `/v2/${name}/manifests/${held.digest}`, headers: { accept: held.mediaType } });
        assert.equal(res.statusCode, 200, `${method} ${name}: ${res.body}`);
        assert.equal(res.headers['docker-content-digest'], held.digest);
      }
      assert.equal(await exists(repoDir(name)), false, `${name} made no directory`);
    }
    assert.deepEqual(await catalog(), ['held/app']);
  });

  test('a name that only has blob links (a blob mounted or fetched under it) is no repository for this: nothing linked, not in the catalog', async () => {
    const layer = held.json.layers as Array<{ digest: string }>;
    const mount = await registry.app.inject({ method: 'POST', url: `/v2/junk-layers/blobs/uploads/?mount=${layer[0]!.digest}` });
    assert.equal(mount.statusCode, 201, mount.body);
    assert.equal((await registry.app.inject({ method: 'GET', url: `/v2/junk-layers/manifests/${held.digest}`, headers: { accept: held.mediaType } })).statusCode, 200);
    assert.equal(await exists(join(repoDir('junk-layers'), '_manifests')), false);
    assert.deepEqual(await catalog(), ['held/app']);
  });

  test('from a peer too (no seed): a manifest by digest under a new name writes no repository', async () => {
    const peers = { newestTag: () => undefined, fetch: async () => held.body };
    const service = new ManifestService(registry.store, NO_UPSTREAMS, pino({ level: 'silent' }), { tagTimeoutMs: 1000 }, peers);
    const resolved = await service.resolve('junk-peer', parseReference(held.digest));
    assert.equal(resolved.digest.value, held.digest);
    assert.equal(await exists(repoDir('junk-peer')), false);
  });

  test('under a repository that exists here, the GET links it (registry:2 layout)', async () => {
    await pushImage(registry.app, 'other/app', '1');
    assert.equal(await registry.store.repositories.hasManifest('other/app', parseDigest(held.digest)), false);
    assert.equal((await registry.app.inject({ method: 'GET', url: `/v2/other/app/manifests/${held.digest}`, headers: { accept: held.mediaType } })).statusCode, 200);
    assert.ok(await exists(join(repoDir('other/app'), '_manifests', 'revisions', 'sha256', held.digest.slice(7), 'link')));
  });

  test('a manifest list pushed into a new repository on a child held under another name is accepted and links it', async () => {
    // The pusher's HEAD finds the child here: it does not push it into app/multi, which does not exist yet.
    assert.equal((await registry.app.inject({ method: 'HEAD', url: `/v2/app/multi/manifests/${held.digest}`, headers: { accept: held.mediaType } })).statusCode, 200);
    const put = await putManifest(registry.app, 'app/multi', 'all', indexManifest([held]));
    assert.equal(put.statusCode, 201, put.body);
    assert.ok(await exists(join(repoDir('app/multi'), '_manifests', 'revisions', 'sha256', held.digest.slice(7), 'link')), 'the child is linked into the new repository');
  });
});
