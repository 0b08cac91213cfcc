// Issue 10, item 9: concurrent pulls of one tag share one revalidation, and manifests by digest
// are fetched once however many clients ask at the same moment.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { UpstreamRouter } from '../../src/distribute/types.ts';
import { DockerCredentials } from '../../src/upstream/docker-credentials.ts';
import { UpstreamSet } from '../../src/upstream/upstreams.ts';
import { eventually } from '../helpers/eventually.ts';
import { makeImage, pushImage, sha256, type TestImage } from '../helpers/images.ts';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';

const CLIENTS = 200;
const INDEX_TYPE = 'application/vnd.docker.distribution.manifest.list.v2+json';

describe('item 9: manifest resolution is single-flight', () => {
  let seed: SeedRegistry;
  let image: TestImage;
  let registry: TestRegistry;
  let url: string;
  let index: Buffer;
  /** Requests that reached the registry's handlers (each asks for its repository's name twice: route, then resolution). */
  let named = 0;

  before(async () => {
    seed = await startSeedRegistry();
    image = await makeImage({ layers: [1024], seed: 'single-flight' });
    await pushImage(seed.url, 'many/app', 'single', image);
    index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: INDEX_TYPE,
      manifests: [{ mediaType: image.mediaType, digest: image.digest, size: image.manifest.byteLength, platform: { architecture: 'amd64', os: 'linux' } }],
    }));
    const put = await fetch(`${seed.url}/v2/many/app/manifests/1`, { method: 'PUT', headers: { 'content-type': INDEX_TYPE }, body: index });
    assert.equal(put.status, 201, await put.text());
    const set = new UpstreamSet([{ url: seed.url }], { dockerCredentials: DockerCredentials.empty() });
    const router: UpstreamRouter = {
      upstreams: set.upstreams,
      targets: (name, ns) => set.targets(name, ns),
      qualifiedName: (name) => set.qualifiedName(name),
      repository: (name, ns) => {
        named += 1;
        return set.repository(name, ns);
      },
    };
    // A tag timeout far above the time the seed is held still: the held HEAD must not time out.
    registry = await createTestRegistry({ router, tagTimeoutMs: 60_000 });
    url = await registry.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await registry?.close();
    await seed?.stop();
    await image?.cleanup();
  });

  /** All clients ask while the seed is frozen, so every one of them is in flight before it answers. */
  async function together(path: string): Promise<Array<{ status: number; digest: string | null; body: Buffer }>> {
    const start = named;
    seed.pause();
    try {
      const responses = Array.from({ length: CLIENTS }, () => fetch(`${url}${path}`, { headers: { accept: `${INDEX_TYPE}, ${image.mediaType}` } }));
      await eventually(() => named >= start + 2 * CLIENTS, 30_000, `${CLIENTS} requests in flight`);
      seed.resume();
      return await Promise.all(responses.map(async (p) => {
        const response = await p;
        return { status: response.status, digest: response.headers.get('docker-content-digest'), body: Buffer.from(await response.arrayBuffer()) };
      }));
    } finally {
      seed.resume();
    }
  }

  test('item 9: 200 concurrent pulls of one tag send the seed 1 HEAD and at most 1 GET per digest', async () => {
    seed.clearLog();
    const byTag = await together('/v2/many/app/manifests/1');
    assert.ok(byTag.every((r) => r.status === 200 && r.digest === sha256(index)), 'every client got the index');
    const byDigest = await together(`/v2/many/app/manifests/${image.digest}`);
    assert.ok(byDigest.every((r) => r.status === 200 && r.body.equals(image.manifest)), 'every client got the image manifest');

    const manifests = (await seed.requests()).filter((r) => r.path.startsWith('/v2/many/app/manifests/'));
    const heads = manifests.filter((r) => r.method === 'HEAD');
    assert.equal(heads.length, 1, `${heads.length} HEADs of the tag`);
    const gets = new Map<string, number>();
    for (const r of manifests.filter((m) => m.method === 'GET')) gets.set(r.path, (gets.get(r.path) ?? 0) + 1);
    for (const [path, count] of gets) assert.ok(count <= 1, `${count} GETs of ${path}`);
    assert.equal(gets.get(`/v2/many/app/manifests/${image.digest}`), 1, 'the image manifest was fetched, once');
  });
});
