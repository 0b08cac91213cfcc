// The distribution spec's content management, on a daemon with its swarm on (the default): a
// repository with no seed is mirrored by the swarm, and this host's own store and tag records used
// to bring a deleted blob, manifest or tag straight back (DELETE 202, then GET 200). Deleted stays
// deleted, across a restart, until it is pushed again. A seeded repository is a cache of its seed,
// where a delete only drops this host's link (test/api covers that); a tag its seed withdrew stops
// answering, on the hosts that pulled it and from the swarm alike.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const sha256 = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const layer = Buffer.from('a layer that is deleted and pushed again');
const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
const manifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
});
const manifestDigest = sha256(manifest);
const REPO = 'content/management';

const LOOPBACK_SWARM = ['--p2p-port', '0', '--peer-port', '0', '--no-mdns', '--bind-address', '127.0.0.1'];

let node: ShoalProcess;

async function pushBlob(bytes: Buffer, to: { readonly url: string } = node, repo = REPO): Promise<void> {
  const started = await fetch(`${to.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(started.status, 202);
  const location = new URL(started.headers.get('location')!, to.url);
  location.searchParams.set('digest', sha256(bytes));
  const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201, await put.text());
}

async function pushManifest(reference: string, to = node): Promise<void> {
  const put = await fetch(`${to.url}/v2/${REPO}/manifests/${reference}`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(put.status, 201, await put.text());
}

async function status(method: 'GET' | 'HEAD' | 'DELETE', path: string, on = node, repo = REPO): Promise<number> {
  const response = await fetch(`${on.url}/v2/${repo}/${path}`, { method });
  await response.arrayBuffer();
  return response.status;
}

/** The first libp2p address a daemon listens on, from its status: what another host bootstraps to. */
async function multiaddrOf(host: ShoalProcess): Promise<string> {
  return ((await (await fetch(`${host.url}/_shoal/status`)).json()) as { node: { multiaddrs: string[] } }).node.multiaddrs[0]!;
}

async function tags(): Promise<string[]> {
  const response = await fetch(`${node.url}/v2/${REPO}/tags/list`);
  return response.status === 200 ? ((await response.json()) as { tags: string[] }).tags : [];
}

before(async () => {
  node = await startShoal({ swarm: true, args: ['--p2p-port', '0', '--peer-port', '0', '--no-mdns'] });
  await pushBlob(config);
  await pushBlob(layer);
  await pushManifest('v1');
  await pushManifest('v2');
});

after(async () => {
  await node?.dispose();
});

test('a deleted tag answers 404 and leaves the list; the other tag and the digest still answer', async () => {
  assert.equal(await status('DELETE', 'manifests/v1'), 202);
  assert.equal(await status('GET', 'manifests/v1'), 404);
  assert.equal(await status('HEAD', 'manifests/v1'), 404);
  assert.deepEqual(await tags(), ['v2']);
  assert.equal(await status('GET', 'manifests/v2'), 200);
  assert.equal(await status('GET', `manifests/${manifestDigest}`), 200);
});

test('a manifest deleted by digest answers 404, and so does every tag that named it', async () => {
  assert.equal(await status('DELETE', `manifests/${manifestDigest}`), 202);
  assert.equal(await status('GET', `manifests/${manifestDigest}`), 404);
  assert.equal(await status('GET', 'manifests/v2'), 404);
  assert.deepEqual(await tags(), []);
});

test('a deleted blob answers 404 to GET and HEAD, also after a restart', async () => {
  assert.equal(await status('DELETE', `blobs/${sha256(layer)}`), 202);
  assert.equal(await status('GET', `blobs/${sha256(layer)}`), 404);
  assert.equal(await status('HEAD', `blobs/${sha256(layer)}`), 404);
  assert.equal(await status('GET', `blobs/${sha256(config)}`), 200, 'a blob not deleted is still there');
  await node.stop();
  await node.start();
  assert.equal(await status('GET', `blobs/${sha256(layer)}`), 404);
  assert.equal(await status('GET', `manifests/${manifestDigest}`), 404);
  assert.equal(await status('GET', 'manifests/v1'), 404);
});

test('pushed again, the blob, the manifest and the tag are back', async () => {
  await pushBlob(layer);
  assert.equal(await status('GET', `blobs/${sha256(layer)}`), 200);
  await pushManifest('v1');
  assert.equal(await status('GET', 'manifests/v1'), 200);
  assert.equal(await status('GET', `manifests/${manifestDigest}`), 200);
  assert.deepEqual(await tags(), ['v1']);
});

describe('a tag deleted on the host it was pushed to', () => {
  let a: ShoalProcess;
  let b: ShoalProcess | undefined;
  before(async () => {
    a = await startShoal({ swarm: true, args: LOOPBACK_SWARM });
    await pushBlob(config, a);
    await pushBlob(layer, a);
    await pushManifest('kept', a);
    await pushManifest('dropped', a);
    assert.equal(await status('DELETE', 'manifests/dropped', a), 202);
  });
  after(async () => {
    await b?.dispose();
    await a?.dispose();
  });

  test('is not resolved from the swarm by a host that had not taken it', { timeout: 120_000 }, async () => {
    const multiaddr = await multiaddrOf(a);
    b = await startShoal({ swarm: true, args: [...LOOPBACK_SWARM, '--bootstrap', multiaddr] });
    // The tags a's swarm knows reach b together when they meet: once `kept` resolves on b, so would `dropped`.
    await eventually(async () => (await status('GET', 'manifests/kept', b)) === 200, 60_000, 'b to resolve the kept tag from a');
    assert.equal(await status('GET', 'manifests/dropped', b), 404);
    assert.equal(await status('GET', `manifests/${manifestDigest}`, b), 200, 'the manifest itself is still shared by digest');
  });
});

describe('a tag withdrawn on the seed', () => {
  let seed: SeedRegistry;
  let a: ShoalProcess;
  let b: ShoalProcess | undefined;
  const SEEDED = 'seeded/app';
  before(async () => {
    seed = await startSeedRegistry();
    for (const blob of [config, layer]) await pushBlob(blob, { url: seed.url }, SEEDED);
    const put = await fetch(`${seed.url}/v2/${SEEDED}/manifests/1`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(put.status, 201, await put.text());
    a = await startShoal({ swarm: true, upstreams: [seed.url], args: LOOPBACK_SWARM });
  });
  after(async () => {
    await b?.dispose();
    await a?.dispose();
    await seed?.stop();
  });

  test('stops answering on the host that pulled it, and no peer takes it from the swarm; a tag pushed to a host still does', { timeout: 120_000 }, async () => {
    assert.equal(await status('GET', 'manifests/1', a, SEEDED), 200);
    await pushBlob(config, a, 'own/app');
    await pushBlob(layer, a, 'own/app');
    const own = await fetch(`${a.url}/v2/own/app/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(own.status, 201, await own.text());
    const deleted = await fetch(`${seed.url}/v2/${SEEDED}/manifests/${manifestDigest}`, { method: 'DELETE' });
    assert.equal(deleted.status, 202);
    const multiaddr = await multiaddrOf(a);
    b = await startShoal({ swarm: true, upstreams: [seed.url], args: [...LOOPBACK_SWARM, '--bootstrap', multiaddr] });
    // The pushed tag (unknown to the seed) reaches b from a's records; the pulled one, which b's
    // seed answers 404 for, must not, before or after a sees the withdrawal.
    await eventually(async () => (await status('GET', 'manifests/v1', b, 'own/app')) === 200, 60_000, 'b to resolve the pushed tag from a');
    assert.equal(await status('GET', 'manifests/1', b, SEEDED), 404, 'b resolved the withdrawn tag from the swarm');
    assert.equal(await status('GET', 'manifests/1', a, SEEDED), 404, 'a still serves the withdrawn tag');
    assert.equal(await status('GET', `manifests/${manifestDigest}`, a, SEEDED), 200, 'the manifest stays by digest');
    assert.equal(await status('GET', 'manifests/v1', a, 'own/app'), 200);
  });

  test('after both hosts restart (tag records live in memory), the pushed tag still resolves on both, and the withdrawn one stays withdrawn', { timeout: 120_000 }, async () => {
    assert.ok(b, 'the test before started b');
    await b.crash();
    await a.crash();
    await a.start();
    await b.start();
    // b took own/app:v1 from the swarm, not from the seed: the seed's 404 is no withdrawal of it.
    assert.equal(await status('GET', 'manifests/v1', b, 'own/app'), 200, 'b kept the pushed tag');
    assert.equal(await status('GET', 'manifests/v1', a, 'own/app'), 200);
    assert.equal(await status('GET', 'manifests/1', a, SEEDED), 404, 'withdrawn stays withdrawn');
    // A host that never had it learns from a's records, announced again at its start, that it was pushed.
    const multiaddr = await multiaddrOf(a);
    const c = await startShoal({ swarm: true, upstreams: [seed.url], args: [...LOOPBACK_SWARM, '--bootstrap', multiaddr] });
    try {
      await eventually(async () => (await status('GET', 'manifests/v1', c, 'own/app')) === 200, 60_000, 'a new host to resolve the pushed tag');
    } finally {
      await c.dispose();
    }
  });
});

describe('a layer\'s digest asked for as a manifest, in a swarm', () => {
  let a: ShoalProcess;
  let b: ShoalProcess | undefined;
  const big = Buffer.alloc(6 * 1024 * 1024, 3);
  before(async () => {
    a = await startShoal({ swarm: true, args: LOOPBACK_SWARM });
    await pushBlob(big, a);
  });
  after(async () => {
    await b?.dispose();
    await a?.dispose();
  });

  test('is 404 MANIFEST_UNKNOWN on a host that lacks it, which fetches nothing from its peers', { timeout: 120_000 }, async () => {
    const multiaddr = await multiaddrOf(a);
    b = await startShoal({ swarm: true, args: [...LOOPBACK_SWARM, '--bootstrap', multiaddr] });
    // Once b has a's announcements (a peer with blobs and a data URL), a manifest GET by the layer's digest would have fetched it.
    type Peers = { peers: Array<{ url?: string; blobs: number }> };
    await eventually(async () => ((await (await fetch(`${b!.url}/_shoal/status`)).json()) as Peers).peers.some((p) => p.url !== undefined && p.blobs > 0), 60_000, 'b to hear what a holds');
    const pid = (await readFile(join(b.dataDir, 'shoal', 'daemon.pid'), 'utf8')).trim();
    const rss = async (): Promise<number> => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]);
    const before = await rss();
    for (const repo of ['any/one', 'any/two', REPO]) assert.equal(await status('GET', `manifests/${sha256(big)}`, b, repo), 404, repo);
    assert.ok((await rss()) - before < 64 * 1024, 'no layer read into memory (KiB)');
    const hex = sha256(big).slice('sha256:'.length);
    const stored = join(b.dataDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    await assert.rejects(access(stored), 'b fetched nothing: the layer is not stored here');
    // A HEAD answers for what a GET would serve: a's copy.
    assert.equal((await (await fetch(`${b.url}/v2/${REPO}/blobs/${sha256(big)}`, { method: 'HEAD' })).status), 200);
  });
});
