import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { makeImage, pushImage } from '../helpers/images.ts';
import { startSeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal } from '../helpers/shoal-process.ts';
import { skopeoCopy, skopeoInspectRaw } from '../helpers/skopeo.ts';

const KiB = 1024;

// The data directory is registry:2's filesystem layout: each reads what the other wrote.
describe('registry:2 data directory compatibility', () => {
  test('a directory written by docker-registry is served in place by shoal', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-compat-'));
    const image = await makeImage({ layers: [300 * KiB, 20 * KiB], seed: 'compat-from-registry' });
    const out = await mkdtemp(join(tmpdir(), 'shoal-compat-out-'));
    try {
      const registry = await startSeedRegistry({ dataDir });
      await pushImage(registry.url, 'team/nginx', '1.14', image);
      await registry.stop();
      const node = await startShoal({ dataDir });
      try {
        const raw = await skopeoInspectRaw(`docker://${node.host}/team/nginx:1.14`);
        assert.equal(raw, image.manifest.toString('utf8'));
        await skopeoCopy(`docker://${node.host}/team/nginx:1.14`, `oci:${out}:copy`);
        const tags = (await (await fetch(`${node.url}/v2/team/nginx/tags/list`)).json()) as { tags: string[] };
        assert.deepEqual(tags.tags, ['1.14']);
      } finally {
        await node.dispose();
      }
    } finally {
      await image.cleanup();
      await rm(dataDir, { recursive: true, force: true });
      await rm(out, { recursive: true, force: true });
    }
  });

  test('a directory written by shoal is served by docker-registry', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-compat-'));
    const image = await makeImage({ layers: [200 * KiB], seed: 'compat-from-shoal', format: 'oci' });
    const out = await mkdtemp(join(tmpdir(), 'shoal-compat-out-'));
    try {
      const node = await startShoal({ dataDir });
      await pushImage(node.url, 'app', '1', image);
      // A chunked upload through skopeo too, so both upload paths leave registry:2-readable files.
      await skopeoCopy(`docker://${node.host}/app:1`, `docker://${node.host}/app-copy:1`);
      await node.stop();
      const registry = await startSeedRegistry({ dataDir });
      try {
        assert.equal(await skopeoInspectRaw(`docker://${registry.host}/app:1`), image.manifest.toString('utf8'));
        // skopeo re-serialises the manifest and compresses the (random, uncompressed) layer as it
        // copies, so the copy is checked by pulling it whole, which verifies every blob.
        await skopeoCopy(`docker://${registry.host}/app-copy:1`, `oci:${out}:copy2`);
        await skopeoCopy(`docker://${registry.host}/app:1`, `oci:${out}:copy`);
        const catalog = (await (await fetch(`${registry.url}/v2/_catalog`)).json()) as { repositories: string[] };
        assert.deepEqual(catalog.repositories, ['app', 'app-copy']);
      } finally {
        await registry.stop();
      }
    } finally {
      await image.cleanup();
      await rm(dataDir, { recursive: true, force: true });
      await rm(out, { recursive: true, force: true });
    }
  });
});
