// A manifest pushed on a blob still arriving here (a HEAD said it is here, so the pusher did not
// upload it): accepted once that fetch commits the blob, refused (MANIFEST_BLOB_UNKNOWN) when the
// fetch fails, never stored naming a blob that is not here.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { BlobService } from '../../src/distribute/blob-service.ts';
import { PushService } from '../../src/distribute/push-service.ts';
import { digestOf, parseReference } from '../../src/oci/index.ts';
import { MemoryNetwork } from '../../src/swarm/index.ts';
import { CountingSeed, meshed, REPOSITORY, silentLogger, startFakePeer, startHost, type FakePeer, type Host } from '../helpers/fake-peer.ts';
import { eventually } from '../helpers/eventually.ts';

const MiB = 1024 * 1024;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function manifestFor(config: Buffer, layer: Buffer): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config).value, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer).value, size: layer.length }],
  }));
}

describe('distribute: a manifest pushed on a blob still arriving', { timeout: 60_000 }, () => {
  const open: Array<Host | FakePeer> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });

  async function pushSide(host: Host): Promise<{ blobs: BlobService; push: PushService; config: Buffer }> {
    const blobs = new BlobService(host.store, host.fetcher);
    const push = new PushService(host.store, blobs, silentLogger, { maxUploadBytes: 0 });
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    await push.putBlob(REPOSITORY, digestOf(config), (async function* () { yield config; })(), config.length);
    return { blobs, push, config };
  }

  test('is accepted once the fetch commits the blob', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed({ chunkDelayMs: 40 }); // 2 MiB in about 1.3 s
    const layer = randomBytes(2 * MiB);
    const digest = seed.add(layer);
    const host = await startHost({ network, seed, name: 'a' });
    open.push(host);
    const { blobs, push, config } = await pushSide(host);
    const fetching = host.fetch(digest);
    assert.equal(await blobs.stat({ name: REPOSITORY, digest }), layer.length, 'HEAD: here (arriving)');
    const put = await push.putManifest(REPOSITORY, parseReference('v1'), manifestFor(config, layer), OCI_MANIFEST);
    assert.equal(await host.store.blobs.stat(digest), layer.length, 'committed by the time the manifest was accepted');
    assert.ok(put.digest);
    await fetching;
  });

  test('is refused when the fetch fails: MANIFEST_BLOB_UNKNOWN, nothing stored', async () => {
    const network = new MemoryNetwork();
    const layer = randomBytes(2 * MiB);
    const digest = digestOf(layer);
    // No seed: the one holder dies after half the blob, and nobody else has it.
    const holder = await startFakePeer(network, layer, { kind: 'die', afterBytes: MiB });
    const host = await startHost({ network, seed: new CountingSeed(), name: 'a', seeded: false });
    open.push(host, holder);
    await meshed([host.swarm, holder.swarm]);
    const { blobs, push, config } = await pushSide(host);
    const fetching = host.fetch(digest).catch(() => undefined);
    assert.equal(await blobs.stat({ name: REPOSITORY, digest }), layer.length, 'HEAD: here (arriving)');
    await assert.rejects(push.putManifest(REPOSITORY, parseReference('v1'), manifestFor(config, layer), OCI_MANIFEST), (error: Error & { code?: string }) => error.code === 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(await host.store.repositories.resolveTag(REPOSITORY, 'v1'), undefined, 'no tag names the missing blob');
    await fetching;
  });
});

describe('distribute: a blob HEAD answered from the swarm', { timeout: 60_000 }, () => {
  const open: Host[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });

  test('counts only holders of the whole blob: pieces a host holds of it do not make it exist (a pusher would skip it, and its manifest then fail)', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed({ chunkDelayMs: 40 }); // 2 MiB in about 1.3 s
    const layer = randomBytes(2 * MiB);
    const digest = seed.add(layer);
    const a = await startHost({ network, seed, name: 'a' });
    // b has no seed: only the swarm can say the blob exists.
    const b = await startHost({ network, seed: new CountingSeed(), name: 'b', seeded: false });
    open.push(a, b);
    await meshed([a.swarm, b.swarm]);
    const blobs = new BlobService(b.store, b.fetcher);
    const fetching = a.fetch(digest);
    await eventually(() => b.swarm.holders(digest.value).some((h) => h.peerId === a.swarm.peerId && !h.complete), 10_000, 'b to hear of a\'s pieces');
    assert.equal(await blobs.stat({ name: REPOSITORY, digest }), undefined, 'HEAD while a holds only pieces: 404');
    await fetching;
    await eventually(() => b.swarm.holders(digest.value).some((h) => h.peerId === a.swarm.peerId && h.complete), 10_000, 'b to hear a has it all');
    assert.equal(await blobs.stat({ name: REPOSITORY, digest }), layer.length, 'HEAD once a holds it whole: its size');
  });
});

describe('distribute: a blob HEAD asked of the seed', { timeout: 30_000 }, () => {
  const open: Host[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });

  test('identical HEADs at once share one seed request (a HEAD storm was one each), and nothing is fetched', async () => {
    const seed = new CountingSeed({ headDelayMs: 200 });
    const layer = randomBytes(64 * 1024);
    const digest = seed.add(layer);
    const host = await startHost({ network: new MemoryNetwork(), seed, name: 'a' });
    open.push(host);
    const blobs = new BlobService(host.store, host.fetcher);
    const sizes = await Promise.all(Array.from({ length: 20 }, () => blobs.stat({ name: REPOSITORY, digest })));
    assert.deepEqual(new Set(sizes), new Set([layer.length]));
    assert.equal(seed.heads.get('a'), 1, 'one HEAD at the seed');
    assert.equal(await host.store.blobs.stat(digest), undefined, 'a HEAD fetches nothing');
  });
});
