// `shoal prefetch` as a real process against a real daemon with a real docker-registry seed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { freePort, startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';
import { CONTROL_CODES, NODE, ROOT, runShoal, SHOAL } from './cli-run.ts';

const MiB = 1024 * 1024;
const SCRIPT = await new Promise<boolean>((done) => execFile('script', ['--version'], (error) => done(error === null)));
const SUMMARY = /^prefetched (\d+)(?: of \d+)? images?, (\d+) blobs?, [\d.]+ (?:B|KiB|MiB|GiB) in [\d.]+ s \(seed (\d+)%, peers (\d+)%(?:, cached (\d+)%)?\)(?:; failed: .*)?$/;

function hasBlob(node: ShoalProcess, digest: string): Promise<boolean> {
  const hex = digest.slice('sha256:'.length);
  return stat(join(node.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data')).then(() => true, () => false);
}

function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? '';
}

async function pushIndex(seed: SeedRegistry, repo: string, tag: string, children: ReadonlyArray<{ image: TestImage; os: string; architecture: string; variant?: string }>): Promise<void> {
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: children.map(({ image, os, architecture, variant }) => ({
      mediaType: image.mediaType, digest: image.digest, size: image.manifest.byteLength, platform: { os, architecture, ...(variant ? { variant } : {}) },
    })),
  }));
  const response = await fetch(`${seed.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index,
  });
  assert.equal(response.status, 201, await response.text());
}

describe('shoal prefetch', () => {
  let seed: SeedRegistry;
  let node: ShoalProcess;
  let amd64: TestImage;
  let arm64: TestImage;
  let tools: TestImage;

  before(async () => {
    seed = await startSeedRegistry();
    amd64 = await makeImage({ layers: [2 * MiB, 300 * 1024], seed: 'prefetch-amd64', format: 'oci' });
    arm64 = await makeImage({ layers: [1 * MiB, 200 * 1024], seed: 'prefetch-arm64', format: 'oci' });
    tools = await makeImage({ layers: [512 * 1024], seed: 'prefetch-tools' });
    await pushImage(seed.url, 'team/app', '1-amd64', amd64);
    await pushImage(seed.url, 'team/app', '1-arm64', arm64);
    await pushIndex(seed, 'team/app', '1', [
      { image: amd64, os: 'linux', architecture: 'amd64' },
      { image: arm64, os: 'linux', architecture: 'arm64', variant: 'v8' },
    ]);
    await pushImage(seed.url, 'tools', 'latest', tools);
    node = await startShoal({ upstreams: [seed.url] });
  });

  after(async () => {
    await node?.dispose();
    await seed?.stop();
    for (const image of [amd64, arm64, tools]) await image?.cleanup();
  });

  test('pulls every blob of every platform into the daemon; plain lines in a pipe, then the summary', async () => {
    seed.clearLog();
    // `tools` takes the default tag; the index brings both platforms.
    const run = await runShoal(['prefetch', '--listen', node.host, 'team/app:1', 'tools']);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.doesNotMatch(run.stdout, CONTROL_CODES, 'no control codes in a pipe');
    assert.match(run.stdout, /^team\/app:1: 6 blobs, [\d.]+ MiB for 2 platforms \(linux\/amd64, linux\/arm64\/v8\)$/m);
    assert.match(run.stdout, /^team\/app:1: done, 6 blobs, .* \(seed 100%, peers 0%\)$/m);
    assert.match(run.stdout, /^tools: done, 2 blobs, /m);
    const summary = SUMMARY.exec(lastLine(run.stdout));
    assert.ok(summary, `summary line: ${lastLine(run.stdout)}`);
    assert.deepEqual(summary.slice(1, 5), ['2', '8', '100', '0']);
    for (const blob of [...amd64.blobs, ...arm64.blobs, ...tools.blobs]) {
      assert.ok(await hasBlob(node, blob.digest), `daemon holds ${blob.digest}`);
      assert.equal(await seed.blobGets(blob.digest), 1, `seed sent ${blob.digest} once`);
    }
  });

  test('a second prefetch fetches nothing from the seed', async () => {
    seed.clearLog();
    const run = await runShoal(['prefetch', '--listen', node.host, 'team/app:1', 'tools']);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.equal(await seed.blobGets(), 0);
    assert.match(lastLine(run.stdout), /^prefetched 2 images, 8 blobs, .* \(seed 0%, peers 0%, cached 100%\)$/);
  });

  test('takes names as users write them: the daemon\'s own host prefix, a digest', async () => {
    const run = await runShoal(['prefetch', '--listen', node.host, `localhost:${node.port}/team/app@${arm64.digest}`, `${node.host}/tools:latest`]);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(lastLine(run.stdout), /^prefetched 2 images, 5 blobs, /);
  });

  test('an unknown image: exit 1, the image and the seed named', async () => {
    const run = await runShoal(['prefetch', '--listen', node.host, 'nope:1', 'tools']);
    assert.equal(run.code, 1);
    assert.match(run.stdout, new RegExp(`^nope:1: failed: not found: neither this shoal nor the seed registry ${seed.url.replaceAll('.', '\\.')} has nope:1; check the name and tag`, 'm'));
    assert.match(lastLine(run.stdout), /^prefetched 1 of 2 images, .*; failed: nope:1$/);
  });

  test('a name the seed keeps under library/ gets that hint', async () => {
    await pushImage(seed.url, 'library/base', '3', tools);
    const run = await runShoal(['prefetch', '--listen', node.host, 'base:3']);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^base:3: failed: not found: .*; it does have library\/base:3: prefetch that name/m);
  });

  test('library/<name> on a registry:2 seed that holds <name>: the seed\'s <name> (what docker asks a registry mirror for when a user types <name>)', async () => {
    // Item 17 had this fail with a hint; the operator audit found docker, with shoal as its
    // registry mirror, then going to Docker Hub for another image of that name.
    const run = await runShoal(['prefetch', '--listen', node.host, 'library/tools']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /library\/tools/);
  });

  test('item 17: prefetch --help says what a name maps to on Docker Hub and on a registry:2 seed', async () => {
    const run = await runShoal(['prefetch', '--help']);
    assert.equal(run.code, 0, run.stderr);
    const help = run.stdout.replace(/\s+/g, ' ');
    assert.match(help, /nginx:1\.14 is library\/nginx:1\.14 on Docker Hub/);
    assert.match(help, /library\/nginx is asked as library\/nginx, then as nginx/);
    assert.match(help, /allowed-registries/);
  });

  test('a malformed name or option is a usage error (exit 2) before anything is fetched', async () => {
    const bad = await runShoal(['prefetch', '--listen', node.host, 'Team/App:1']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^shoal: Team\/App:1: "Team\/App" is not a valid repository name; repository names are lowercase: team\/app\n$/);
    const platform = await runShoal(['prefetch', '--listen', node.host, '--platform', 'amd64', 'tools']);
    assert.equal(platform.code, 2);
    assert.match(platform.stderr, /--platform "amd64": expected os\/arch/);
  });

  test('daemon down: exit 1 and how to start it', async () => {
    const port = await freePort();
    const run = await runShoal(['prefetch', '--listen', `127.0.0.1:${port}`, 'tools']);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, new RegExp(`^shoal: cannot reach the shoal daemon at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\); is shoal running\\? start it with npm start / systemctl start shoal`));
  });

  test('SHOAL_LISTEN picks the daemon, as for serve', async () => {
    const run = await runShoal(['prefetch', 'tools'], { env: { SHOAL_LISTEN: node.host } });
    assert.equal(run.code, 0, run.stderr);
  });

  describe('on a fresh daemon', () => {
    let fresh: ShoalProcess;
    before(async () => {
      fresh = await startShoal({ upstreams: [seed.url] });
    });
    after(async () => {
      await fresh?.dispose();
    });

    test('--platform picks one child of an index', async () => {
      const run = await runShoal(['prefetch', '--listen', fresh.host, '--platform', 'linux/arm64', 'team/app:1']);
      assert.equal(run.code, 0, run.stderr + run.stdout);
      for (const blob of arm64.blobs) assert.ok(await hasBlob(fresh, blob.digest));
      for (const blob of amd64.blobs) assert.ok(!(await hasBlob(fresh, blob.digest)), 'the other platform is left alone');
      const none = await runShoal(['prefetch', '--listen', fresh.host, '--platform', 'linux/s390x', 'team/app:1']);
      assert.equal(none.code, 1);
      assert.match(none.stdout, /failed: no linux\/s390x image in team\/app:1 \(it has: linux\/amd64, linux\/arm64\/v8\)/);
    });

    test('on a terminal: one progress line per image, redrawn in place', async () => {
      assert.ok(SCRIPT, 'script(1) is missing: it comes with Debian\'s bsdutils (util-linux)');
      const command = [NODE, SHOAL, 'prefetch', '--listen', fresh.host, 'team/app:1', 'tools'].map((arg) => `'${arg}'`).join(' ');
      const output = await new Promise<{ code: number; text: string }>((done) => {
        execFile('script', ['-q', '-e', '-c', command, '/dev/null'], { cwd: ROOT, env: { ...process.env, TERM: 'xterm', NO_COLOR: '' }, timeout: 60_000 }, (error, stdout) => {
          done({ code: error === null ? 0 : Number(error.code), text: stdout });
        });
      });
      assert.equal(output.code, 0, output.text);
      assert.ok(output.text.includes('\r'), 'redraws with carriage returns');
      assert.ok(output.text.includes('\x1b[K'), 'erases the rest of the line');
      const lines = output.text.replaceAll('\r\n', '\n').split('\n').map((line) => line.split('\r').at(-1)!.replaceAll('\x1b[K', ''));
      assert.ok(lines.some((line) => /^team\/app:1 +█+ done  6 blobs, /.test(line)), output.text);
      assert.ok(lines.some((line) => /^prefetched 2 images, 8 blobs, /.test(line)), output.text);
    });
  });
});

