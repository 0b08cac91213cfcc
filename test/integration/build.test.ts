// `npm run build` (scripts/build.mjs) and bin/shoal.js's choice between the JavaScript build and
// the TypeScript sources (bin/built.js), on a copy of this checkout: the build runs, every one of
// its modules loads, the daemon starts from it and serves a blob pulled through it from a seed,
// and an edited source (or a build from other sources) sends bin/shoal.js back to the sources
// rather than run a stale build, until a build picks the edit up.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { freePort, startSeedRegistry } from '../helpers/seed-registry.ts';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const node = join(repo, 'node_modules', '.bin', 'node');
type Built = { entryModule(root: string): string };

/** Pushes `bytes` to the seed as one blob of `name` (POST, then a monolithic PUT). */
async function pushSeedBlob(seed: string, name: string, bytes: Buffer): Promise<string> {
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const started = await fetch(`${seed}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  assert.equal(started.status, 202);
  const location = new URL(started.headers.get('location')!, seed);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201);
  return digest;
}

/** Runs `shoal serve` from the app copy's bin/shoal.js, the way npm start does; resolves once /v2/ answers. */
async function serveFrom(app: string, upstream: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'shoal-build-data-'));
  const child = spawn(node, [join(app, 'bin', 'shoal.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--upstream', upstream, '--no-swarm', '--log-level', 'warn'], { cwd: app, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 60_000; ; ) {
    if (child.exitCode !== null) throw new Error(`the built daemon exited with ${child.exitCode}: ${stderr}`);
    const ok = await fetch(`${url}/v2/`).then((r) => r.status === 200, () => false);
    if (ok) return { url, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the built daemon did not answer /v2/ within 60 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the JavaScript build', () => {
  let app: string;
  let built: Built;
  let firstBuild = '';

  before(async () => {
    app = await mkdtemp(join(tmpdir(), 'shoal-build-'));
    for (const part of ['bin', 'src', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) await cp(join(repo, part), join(app, part), { recursive: true });
    await symlink(join(repo, 'node_modules'), join(app, 'node_modules'));
    built = (await import(pathToFileURL(join(app, 'bin', 'built.js')).href)) as Built;
    firstBuild = (await run(node, [join(app, 'scripts', 'build.mjs')], { cwd: app, timeout: 300_000 })).stdout;
  });
  after(() => rm(app, { recursive: true, force: true }));

  test('builds dist/ and bin/shoal.js runs it: every module of it loads, the CLI answers from it', async () => {
    assert.match(firstBuild, /build: .*dist \(sources [0-9a-f]{12}\)/);
    assert.equal(built.entryModule(app), join(app, 'dist', 'src', 'cli', 'main.js'));
    const { stdout: check } = await run(node, [join(repo, 'deploy', 'check-imports.mjs'), app], { timeout: 120_000 });
    assert.match(check, /modules under .*dist\/src load/);
    // `config` loads the configuration and renders it: the build's own package.json and modules.
    const { stdout: config } = await run(node, [join(app, 'bin', 'shoal.js'), 'config', '--upstream', 'http://127.0.0.1:1'], { cwd: app, timeout: 60_000 });
    assert.match(config, /127\.0\.0\.1:1/);
    const version = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as { version: string };
    assert.equal((await run(node, [join(app, 'bin', 'shoal.js'), '--version'], { cwd: app })).stdout.trim(), version.version);
  });

  test('the daemon npm start runs is the bundle: it starts, answers /v2/, pulls a blob through from the seed and serves it again from disk', async () => {
    assert.equal(built.entryModule(app), join(app, 'dist', 'src', 'cli', 'main.js'));
    // A bundle, not a file per source module: every module is in dist/src/cli/ (main.js and the
    // chunks of its dynamic imports); beside it only the hash worker, which runs in a thread of its own.
    const modules = (await readdir(join(app, 'dist', 'src'), { recursive: true })).filter((file) => file.endsWith('.js'));
    assert.deepEqual(modules.filter((file) => !file.startsWith(`cli${sep}`)), [join('store', 'prefix-hash-worker.js')]);
    assert.ok(modules.includes(join('cli', 'main.js')));
    const seed = await startSeedRegistry();
    try {
      // Large enough to be fetched in many pieces: the hash worker (a file beside the sources) hashes them.
      const bytes = randomBytes(3 * 1024 * 1024 + 17);
      const digest = await pushSeedBlob(seed.url, 'build/test', bytes);
      const daemon = await serveFrom(app, seed.url);
      try {
        for (const pass of ['cold, from the seed', 'from disk']) {
          const response = await fetch(`${daemon.url}/v2/build/test/blobs/${digest}`);
          assert.equal(response.status, 200, pass);
          const body = Buffer.from(await response.arrayBuffer());
          assert.equal(`sha256:${createHash('sha256').update(body).digest('hex')}`, digest, pass);
        }
        // The status page reads its HTML from a file beside its module when the module loads.
        const page = await fetch(`${daemon.url}/_shoal/`);
        assert.equal(page.status, 200);
        assert.match(await page.text(), /<html/i);
      } finally {
        await daemon.stop();
      }
      assert.equal(await seed.blobGets(digest), 1, 'the second GET came from disk');
    } finally {
      await seed.stop();
    }
  });

  test('a build from these sources is kept; an edited source is run from source until built again', async () => {
    assert.match((await run(node, [join(app, 'scripts', 'build.mjs')], { cwd: app, timeout: 300_000 })).stdout, /up to date/);
    // The compiler's settings count as sources: a build made with others is not this one.
    const settings = join(app, 'tsconfig.build.json');
    const original = await readFile(settings, 'utf8');
    await writeFile(settings, `${original}\n`);
    assert.equal(built.entryModule(app), join(app, 'src', 'cli', 'main.ts'), 'changed compiler settings: the build is stale');
    await writeFile(settings, original);
    assert.equal(built.entryModule(app), join(app, 'dist', 'src', 'cli', 'main.js'));
    const file = join(app, 'src', 'lib', 'bytes.ts');
    await writeFile(file, `${await readFile(file, 'utf8')}\n// edited after the build\n`);
    assert.equal(built.entryModule(app), join(app, 'src', 'cli', 'main.ts'), 'a stale build is never run');
    await writeFile(join(app, 'dist', 'build-fingerprint'), 'not these sources\n');
    assert.equal(built.entryModule(app), join(app, 'src', 'cli', 'main.ts'));
    // The next build makes the bundle anew, with the edit in it, and bin/shoal.js runs it again.
    const cli = join(app, 'src', 'cli', 'main.ts');
    await writeFile(cli, `${await readFile(cli, 'utf8')}\nexport const editedAfterTheBuild = 'edited-mark';\n`);
    assert.match((await run(node, [join(app, 'scripts', 'build.mjs')], { cwd: app, timeout: 300_000 })).stdout, /dist \(sources [0-9a-f]{12}\)/);
    assert.equal(built.entryModule(app), join(app, 'dist', 'src', 'cli', 'main.js'));
    assert.match(await readFile(join(app, 'dist', 'src', 'cli', 'main.js'), 'utf8'), /edited-mark/);
  });

  test('SHOAL_BUILD_READABLE=1 makes a build a CPU profile can name the sources of; bin/shoal.js runs it, a plain build replaces it', async () => {
    const readable = await run(node, [join(app, 'scripts', 'build.mjs')], { cwd: app, timeout: 300_000, env: { ...process.env, SHOAL_BUILD_READABLE: '1' } });
    assert.match(readable.stdout, /dist \(sources [0-9a-f]{12}, readable\)/);
    assert.equal(built.entryModule(app), join(app, 'dist', 'src', 'cli', 'main.js'), 'the readable build is made from these sources');
    const { sourceFrame } = await import('../../bench/lib/bundle-sources.ts');
    const chunks = (await readdir(join(app, 'dist', 'src', 'cli'))).filter((file) => file.endsWith('.js'));
    let mapped = 0;
    for (const chunk of chunks) {
      const lines = (await readFile(join(app, 'dist', 'src', 'cli', chunk), 'utf8')).split('\n');
      const at = lines.findIndex((line) => line === '// src/distribute/piece-engine.ts');
      if (at < 0) continue;
      const frame = sourceFrame(pathToFileURL(join(app, 'dist', 'src', 'cli', chunk)).href, at + 5);
      assert.equal(frame.url, pathToFileURL(join(app, 'src', 'distribute', 'piece-engine.ts')).href);
      assert.equal(frame.line, 4);
      mapped += 1;
    }
    assert.equal(mapped, 1, 'one chunk holds the piece engine, under its path');
    assert.match((await run(node, [join(app, 'bin', 'shoal.js'), '--version'], { cwd: app })).stdout, /^\d+\.\d+\.\d+/);
    // The same sources, the usual build asked for: not "up to date", made minified again.
    const plain = await run(node, [join(app, 'scripts', 'build.mjs')], { cwd: app, timeout: 300_000 });
    assert.match(plain.stdout, /dist \(sources [0-9a-f]{12}\)\n/);
    const main = await readFile(join(app, 'dist', 'src', 'cli', 'main.js'), 'utf8');
    assert.doesNotMatch(main, /^\/\/ src\//m, 'minified: no module lines');
  });

  test('with no sources beside it (the image), the build is what runs', async () => {
    await rm(join(app, 'src'), { recursive: true });
    assert.equal(built.entryModule(app), join(app, 'dist', 'src', 'cli', 'main.js'));
    assert.match((await run(node, [join(app, 'bin', 'shoal.js'), '--version'], { cwd: app })).stdout, /^\d+\.\d+\.\d+/);
  });
});
