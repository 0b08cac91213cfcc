import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { digestOf, parseDigest } from '../../src/oci/index.ts';
import { Store, collectGarbage, daemonPidPath } from '../../src/store/index.ts';
import { createTestRegistry, type TestRegistry } from '../helpers/registry-app.ts';
import { indexManifest, imageManifest, makeBlob, pushBlob, pushImage, pushManifestOk, type TestBlob } from '../helpers/oci-fixtures.ts';

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);
const repo = fileURLToPath(new URL('../../', import.meta.url));

interface Fixture {
  readonly dir: string;
  readonly kept: string[];
  readonly garbage: TestBlob[];
}

/**
 * A data directory with: a tagged image, an index with two children, an untagged revision (kept,
 * as registry:2 keeps it), a deleted revision's layers, a blob pushed without any manifest, and a
 * revision shoal cannot parse (its digests are kept).
 */
async function fixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-gc-'));
  const registry: TestRegistry = await createTestRegistry({ dataDir: dir });
  try {
    const app = registry.app;
    const kept: string[] = [];
    const tagged = await pushImage(app, 'team/app', 'v1');
    kept.push(tagged.manifest.digest, tagged.config.digest, ...tagged.layers.map((l) => l.digest));

    const children = [];
    for (const arch of ['a', 'b']) {
      const config = makeBlob(`{"architecture":"${arch}","os":"linux"}`);
      const layer = makeBlob();
      for (const blob of [config, layer]) await pushBlob(app, 'team/multi', blob);
      const child = imageManifest({ config, layers: [layer] });
      await pushManifestOk(app, 'team/multi', child.digest, child);
      children.push(child);
      kept.push(child.digest, config.digest, layer.digest);
    }
    const index = indexManifest(children);
    await pushManifestOk(app, 'team/multi', 'latest', index);
    kept.push(index.digest);

    const untagged = await pushImage(app, 'team/old', 'gone');
    assert.equal((await app.inject({ method: 'DELETE', url: '/v2/team/old/manifests/gone' })).statusCode, 202);
    kept.push(untagged.manifest.digest, untagged.config.digest, ...untagged.layers.map((l) => l.digest));

    const deleted = await pushImage(app, 'team/deleted', 'v1', { layers: [makeBlob(Buffer.alloc(3000, 1)), makeBlob(Buffer.alloc(5000, 2))] });
    assert.equal((await app.inject({ method: 'DELETE', url: `/v2/team/deleted/manifests/${deleted.manifest.digest}` })).statusCode, 202);

    const orphan = makeBlob(Buffer.alloc(7000, 3));
    await pushBlob(app, 'team/orphan', orphan);

    // What an old registry could have stored: a revision that is no manifest shoal parses.
    const referenced = makeBlob(Buffer.alloc(1000, 4));
    await pushBlob(app, 'legacy/app', referenced);
    const legacy = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'legacy/app', fsLayers: [{ blobSum: referenced.digest }] }));
    const legacyDigest = await registry.store.blobs.put(legacy);
    await registry.store.repositories.linkManifest('legacy/app', legacyDigest);
    kept.push(legacyDigest.value, referenced.digest);

    // The deleted revision's manifest blob stays on disk unreferenced too.
    const garbage = [deleted.config, ...deleted.layers, orphan, makeBlob(deleted.manifest.body)];
    return { dir, kept, garbage };
  } finally {
    await registry.app.close();
  }
}

describe('shoal gc: mark and sweep', () => {
  let f: Fixture;
  before(async () => {
    f = await fixture();
  });
  after(() => rm(f.dir, { recursive: true, force: true }));

  test('a dry run lists the unreferenced blobs with sizes and the total, and deletes nothing', async () => {
    const { store } = await Store.open(f.dir, { recover: false });
    const result = await collectGarbage(store, { dryRun: true });
    assert.equal(result.dryRun, true);
    assert.deepEqual(result.swept.map((e) => e.digest).sort(), f.garbage.map((b) => b.digest).sort());
    for (const entry of result.swept) assert.equal(entry.size, f.garbage.find((b) => b.digest === entry.digest)!.size);
    assert.equal(result.sweptBytes, f.garbage.reduce((sum, b) => sum + b.size, 0));
    assert.equal(result.kept, new Set(f.kept).size);
    assert.equal(result.unlinked, 0);
    assert.match(result.warnings.join('\n'), /cannot be parsed; every digest written in it is kept/);
    for (const blob of f.garbage) assert.ok(await exists(store.blobs.path(parseDigest(blob.digest))), 'still there');
  });

  test('the CLI dry run prints each blob with its size, and the total', async () => {
    const run = await shoal('gc', '--data-dir', f.dir, '--dry-run');
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    for (const blob of f.garbage) assert.ok(lines.some((line) => line.startsWith(`would delete ${blob.digest} `)), blob.digest);
    const total = f.garbage.reduce((sum, b) => sum + b.size, 0);
    assert.match(lines.at(-1)!, new RegExp(`^dry run: ${f.garbage.length} blobs, [0-9.]+ KiB \\(${total} bytes\\) would be freed; ${new Set(f.kept).size} blobs \\([^)]+\\) referenced by \\d+ manifests in \\d+ repositories stay$`));
    assert.match(run.stderr, /warning: manifest sha256:[0-9a-f]{64} cannot be parsed/);
  });

  test('refuses to run under a live daemon (a dry run is allowed), names the pid file', async () => {
    const { store } = await Store.open(f.dir, { recover: false });
    // A stand-in daemon: alive, a shoal by its command line, and not the CLI process itself.
    const daemon = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'shoal', 'serve'], { stdio: 'ignore' });
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      await writeFile(daemonPidPath(store.layout), `${daemon.pid}\n`);
      const refused = await shoal('gc', '--data-dir', f.dir);
      assert.equal(refused.code, 1);
      assert.equal(refused.stderr, `shoal: a shoal daemon (pid ${daemon.pid}) is using ${f.dir}: stop it first, then run shoal gc (if no daemon runs, remove ${daemonPidPath(store.layout)})\n`);
      const dry = await shoal('gc', '--data-dir', f.dir, '--dry-run');
      assert.equal(dry.code, 0);
      assert.match(dry.stdout, /^note: a shoal daemon \(pid \d+\) is running here/);
      // A pid file left by a crash before a reboot, naming a pid another program has now, does not block.
      await writeFile(daemonPidPath(store.layout), `${other.pid}\n`);
      assert.equal((await shoal('gc', '--data-dir', f.dir, '--dry-run')).stdout.startsWith('note:'), false);
    } finally {
      daemon.kill();
      other.kill();
      await rm(daemonPidPath(store.layout), { force: true });
    }
    // A pid file left by a crash (a process that is gone) does not block.
    await writeFile(daemonPidPath(store.layout), '999999999\n');
    assert.equal((await shoal('gc', '--data-dir', f.dir, '--dry-run')).stdout.startsWith('note:'), false);
    await rm(daemonPidPath(store.layout), { force: true });
  });

  test('gc deletes exactly those, with their layer links; every kept image still pulls', async () => {
    const { store } = await Store.open(f.dir, { recover: false });
    const deleted: string[] = [];
    store.blobs.onDeleted((digest) => deleted.push(digest.value));
    const result = await collectGarbage(store);
    assert.equal(result.dryRun, false);
    assert.deepEqual(deleted.sort(), f.garbage.map((b) => b.digest).sort(), 'each deletion is announced (the swarm withdraws it)');
    for (const blob of f.garbage) assert.equal(await exists(store.blobs.path(parseDigest(blob.digest))), false);
    for (const digest of f.kept) assert.ok(await exists(store.blobs.path(parseDigest(digest))), `kept ${digest}`);
    assert.ok(result.unlinked >= 4, `${result.unlinked} layer links removed`);
    assert.equal(await store.repositories.hasBlobLink('team/orphan', parseDigest(f.garbage[3]!.digest)), false);

    const registry = await createTestRegistry({ dataDir: f.dir });
    try {
      for (const [name, reference] of [['team/app', 'v1'], ['team/multi', 'latest']] as const) {
        const res = await registry.app.inject({ method: 'GET', url: `/v2/${name}/manifests/${reference}`, headers: { accept: '*/*' } });
        assert.equal(res.statusCode, 200, `${name}:${reference}`);
      }
      for (const digest of f.kept) {
        assert.equal(digestOf((await registry.store.blobs.read(parseDigest(digest)))!).value, digest);
      }
      assert.equal((await registry.app.inject({ method: 'HEAD', url: `/v2/team/orphan/blobs/${f.garbage[3]!.digest}` })).statusCode, 404);
    } finally {
      await registry.app.close();
    }
    const again = await collectGarbage(store, { dryRun: true });
    assert.deepEqual(again.swept, [], 'nothing left to collect');
  });

  test('the CLI run prints what it deleted and the total; a missing data dir is a usage error', async () => {
    const dir = (await fixture()).dir;
    try {
      const run = await shoal('gc', '--data-dir', dir);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^deleted sha256:[0-9a-f]{64} [0-9.]+ (B|KiB)\n/);
      assert.match(run.stdout, /\nfreed 5 blobs, [0-9.]+ KiB \(\d+ bytes\); removed \d+ layer links; \d+ blobs \([^)]+\) referenced by \d+ manifests in \d+ repositories stay\n$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const missing = await shoal('gc', '--data-dir', join(tmpdir(), 'shoal-gc-nothing-here'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /holds no registry data/);
  });
});

function shoal(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHOAL_')));
  return new Promise((resolve) => {
    execFile(join(repo, 'node_modules', '.bin', 'node'), [join(repo, 'bin', 'shoal.js'), ...args], { cwd: tmpdir(), env }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}
