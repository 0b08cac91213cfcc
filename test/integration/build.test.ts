// `npm run build` (scripts/build.mjs) and bin/shoal.js's choice between the JavaScript build and
// the TypeScript sources (bin/built.js), on a copy of this checkout: the build runs, every one of
// its modules loads, the daemon starts from it, and an edited source (or a build from other
// sources) sends bin/shoal.js back to the sources rather than run a stale build.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const node = join(repo, 'node_modules', '.bin', 'node');
type Built = { entryModule(root: string): string };

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
  });

  test('with no sources beside it (the image), the build is what runs', async () => {
    await rm(join(app, 'src'), { recursive: true });
    assert.equal(built.entryModule(app), join(app, 'dist', 'src', 'cli', 'main.js'));
    assert.match((await run(node, [join(app, 'bin', 'shoal.js'), '--version'], { cwd: app })).stdout, /^\d+\.\d+\.\d+/);
  });
});
