// A blob fetched for a client is linked into the repository it was asked under only when that is a
// repository here (a manifest was pulled or pushed into it), as BlobService and ManifestService
// link: an anonymous GET under any name must not make directories (attack audit F4, follow-up).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { digestOf } from '../../src/oci/index.ts';
import { MemoryNetwork } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, meshed, startHost, type Host } from '../helpers/fake-peer.ts';

describe('distribute: where a fetched blob is linked', { timeout: 60_000 }, () => {
  const open: Host[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((h) => h.close()));
  });

  test('not into a name that is no repository here; into one that holds a manifest', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const junkBlob = randomBytes(64 * 1024);
    const appBlob = randomBytes(64 * 1024);
    const a = await startHost({ network, seed, name: 'a', holds: [junkBlob, appBlob] });
    const b = await startHost({ network, seed, name: 'b' });
    open.push(a, b);
    await meshed([a.swarm, b.swarm]);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(appBlob).value, size: appBlob.length }, layers: [] }));
    await b.store.repositories.linkManifest('team/app', await b.store.blobs.put(manifest));
    for (const [name, content] of [['junk/x', junkBlob], ['team/app', appBlob]] as const) {
      const fetched = await b.fetcher.fetch({ name, digest: digestOf(content) });
      await fetched?.done();
    }
    await eventually(() => b.stats.blobsFetched === 2, 10_000, 'both fetches to finish');
    assert.equal(await b.store.repositories.exists('junk/x'), false, 'an anonymous GET under a made-up name wrote nothing');
    assert.equal(await b.store.repositories.hasBlobLink('team/app', digestOf(appBlob)), true);
  });
});
