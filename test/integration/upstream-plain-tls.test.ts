// A seed that speaks plain HTTP never needs TLS: its transport reads no TLS files and builds no
// TLS context (the system CA store alone held ~8 MiB of a daemon's memory for good).
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseDigest } from '../../src/oci/index.ts';
import { RegistryClient } from '../../src/upstream/registry-client.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';

describe('upstream over plain HTTP', () => {
  let seed: SeedRegistry;
  let dir: string;
  let certsDir: string;
  before(async () => {
    seed = await startSeedRegistry();
    dir = await mkdtemp(join(tmpdir(), 'shoal-plain-tls-'));
    // A client certificate without its key in the seed's certs.d folder: reading the TLS files
    // fails, so any request that reads them fails too.
    certsDir = join(dir, 'certs.d');
    await mkdir(join(certsDir, seed.host), { recursive: true });
    await writeFile(join(dir, 'client.cert'), 'not read over plain HTTP\n');
    await copyFile(join(dir, 'client.cert'), join(certsDir, seed.host, 'client.cert'));
  });
  after(async () => {
    await seed?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('requests and blob GETs leave the TLS files unread', async () => {
    const client = new RegistryClient({ url: seed.url, certsDir });
    try {
      assert.equal(await client.listTags('library/absent'), undefined);
      const digest = parseDigest(`sha256:${'0'.repeat(64)}`);
      assert.equal(await client.getBlob('library/absent', digest), undefined);
    } finally {
      await client.close();
    }
  });
});
