// deploy/install.sh into a scratch root (--root: nothing on this host changes, nothing starts):
// the production install (npm ci --omit=dev) loads every module, and the unit, settings file,
// user and config folder land where deploy/shoal.service expects them. Needs root (file owners,
// systemd-sysusers --root) and the npm registry, as CI has.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const isRoot = process.getuid?.() === 0;

describe('deploy/install.sh --root', () => {
  let root: string;
  let output = '';

  before(async () => {
    // Fails, never skips: CI runs as root; a run without root must say why it cannot check this.
    assert.ok(isRoot, 'deploy/install.sh --root needs root (chown to the shoal user): run the tests as root, as CI does');
    root = await mkdtemp(join(tmpdir(), 'shoal-install-'));
    await mkdir(join(root, 'etc'));
    const result = await run('bash', [`${repo}/deploy/install.sh`, '--root', root], {
      env: { ...process.env, SHOAL_NODE_BIN: process.execPath },
      timeout: 600_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((e: { stdout?: string; stderr?: string; message: string }) => assert.fail(`install.sh failed: ${e.stderr || e.message}`));
    output = `${result.stdout}${result.stderr}`;
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('puts the app, its production dependencies and Node 22 under /opt/shoal', async () => {
    const { stdout } = await run(join(root, 'opt/shoal/runtime/node'), ['--version']);
    assert.match(stdout, /^v22\./);
    const { stdout: version } = await run(join(root, 'opt/shoal/runtime/node'), [join(root, 'opt/shoal/bin/shoal.js'), '--version']);
    assert.match(version, /^\d+\.\d+\.\d+/);
    await stat(join(root, 'opt/shoal/node_modules/fastify/package.json'));
    await assert.rejects(stat(join(root, 'opt/shoal/node_modules/typescript')), 'no devDependencies');
    assert.match(output, /installed shoal/);
  });

  test('every module loads from the production install', async () => {
    const { stdout } = await run(join(root, 'opt/shoal/runtime/node'), [`${repo}/deploy/check-imports.mjs`, join(root, 'opt/shoal')], { timeout: 60_000 });
    // The JavaScript build, made from the installed sources: no type stripping at run time.
    assert.match(stdout, /modules under .*\/opt\/shoal\/dist\/src load/);
  });

  test('the unit, the settings file, the user and /etc/shoal', async () => {
    assert.equal(await readFile(join(root, 'etc/systemd/system/shoal.service'), 'utf8'), await readFile(`${repo}/deploy/shoal.service`, 'utf8'));
    const settings = await stat(join(root, 'etc/default/shoal'));
    assert.equal(settings.mode & 0o777, 0o640, '/etc/default/shoal may hold secrets');
    const passwd = await readFile(join(root, 'etc/passwd'), 'utf8');
    const user = passwd.split('\n').find((l) => l.startsWith('shoal:'))?.split(':');
    assert.ok(user, 'user shoal');
    assert.equal(user[5], '/var/lib/shoal');
    const config = await stat(join(root, 'etc/shoal'));
    assert.equal(config.mode & 0o777, 0o750);
    assert.equal(config.gid, Number(user[3]), '/etc/shoal belongs to group shoal');
    const app = await stat(join(root, 'opt/shoal/src'));
    assert.equal(app.uid, 0, 'the app is root-owned: the service cannot change its own code');
    assert.equal(app.mode & 0o022, 0);
  });

  test('the unit verifies against the installed tree', async () => {
    // verify --root needs systemd's own units (sysinit.target ...) inside the tree.
    await run('sh', ['-c', 'command -v systemd-analyze && test -d /usr/lib/systemd/system']).catch(() => {
      throw new Error('systemd is not installed here: apt-get install systemd (.ci/run does)');
    });
    await run('cp', ['-r', '/usr/lib/systemd', join(root, 'usr/lib/')]);
    const { stdout, stderr } = await run('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/shoal.service'], { timeout: 60_000 });
    assert.deepEqual(`${stdout}${stderr}`.split('\n').filter((l) => l.includes('shoal')), []);
  });
});
