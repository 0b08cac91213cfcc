import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { SETTING_IDS, SETTINGS, type Setting } from '../../src/config/schema.ts';
import { exitOnShutdownSignals } from '../../src/cli/shutdown.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const node = join(repo, 'node_modules', '.bin', 'node');
let home: string;
before(async () => {
  home = await mkdtemp(join(tmpdir(), 'shoal-cli-'));
});
after(() => rm(home, { recursive: true, force: true }));

interface Run { readonly code: number; readonly stdout: string; readonly stderr: string }

/** Runs bin/shoal.js with no SHOAL_* variables and an empty home, so the host's settings cannot leak in. */
function shoal(...args: string[]): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHOAL_') && name !== 'DOCKER_CONFIG'));
  return new Promise((resolve) => {
    execFile(node, [join(repo, 'bin', 'shoal.js'), ...args], { cwd: home, env: { ...env, HOME: home } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}

describe('shoal CLI', () => {
  it('exits 2 with one stderr line naming --listen when its value is bad', async () => {
    const run = await shoal('serve', '--listen', 'nope');
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^shoal: invalid --listen "nope": expected HOST:PORT such as 127\.0\.0\.1:5000[^\n]*\n$/);
  });

  it('prints the effective config as YAML without the password', async () => {
    const run = await shoal('config', '--upstream', 'http://x:5000/', '--upstream-username', 'bob', '--upstream-password', 'hunter2');
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes('hunter2'));
    const printed = parse(run.stdout) as Record<string, unknown>;
    assert.deepEqual(printed['upstreams'], [{ url: 'http://x:5000', username: 'bob', password: '<redacted>' }]);
    assert.deepEqual(printed['http'], { addr: '127.0.0.1:5000', maxuploadsize: '0' });
    assert.deepEqual(printed['storage'], { filesystem: { rootdirectory: join(home, 'data') } });
  });

  it('does not echo the password when rejecting it either', async () => {
    const run = await shoal('config', '--upstream', 'http://x:5000', '--upstream-password', 'hunter2');
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^shoal: upstream http:\/\/x:5000: --upstream-password is set but no user name is[^\n]*\n$/);
    assert.ok(!(run.stdout + run.stderr).includes('hunter2'));
  });

  it('prints the package version', async () => {
    const { version } = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string };
    const run = await shoal('--version');
    assert.equal(run.code, 0);
    assert.equal(run.stdout, `${version}\n`);
  });

  it('lists every setting with its env var and default in --help', async () => {
    for (const args of [['serve', '--help'], ['--help']]) {
      const run = await shoal(...args);
      assert.equal(run.code, 0);
      const help = run.stdout.replace(/\s+/g, ' ');
      for (const id of SETTING_IDS) {
        const setting: Setting<unknown> = SETTINGS[id];
        for (const text of [setting.flag, setting.env, setting.defaultText.replaceAll('`', '')]) {
          assert.ok(help.includes(text), `${args.join(' ')} mentions ${text}`);
        }
      }
    }
  });

  it('exits 2 on an unknown option', async () => {
    const run = await shoal('serve', '--lisen', '127.0.0.1:5000');
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^shoal: unknown option '--lisen'/);
  });
});

describe('exitOnShutdownSignals', () => {
  function harness(close: () => Promise<void>, drainTimeoutMs = 1000) {
    const signals = new EventEmitter();
    const exits: number[] = [];
    const logged: string[] = [];
    const log = (first: unknown, second?: unknown) => logged.push(String(typeof first === 'string' ? first : second));
    exitOnShutdownSignals({ close, signals, drainTimeoutMs, exit: (code) => exits.push(code), logger: { info: log, warn: log, error: log } as never });
    return { signals, exits, logged };
  }
  const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

  it('drains on SIGTERM, then exits 0', async () => {
    let closed = 0;
    const { signals, exits } = harness(async () => { closed++; });
    signals.emit('SIGTERM', 'SIGTERM');
    await tick();
    assert.equal(closed, 1);
    assert.deepEqual(exits, [0]);
  });

  it('exits 1 at once on a second signal', async () => {
    let finish = (): void => {};
    const { signals, exits } = harness(() => new Promise<void>((resolve) => { finish = resolve; }));
    signals.emit('SIGINT', 'SIGINT');
    await tick();
    assert.deepEqual(exits, []);
    signals.emit('SIGINT', 'SIGINT');
    assert.deepEqual(exits, [1]);
    finish();
  });

  it('exits 1 with a message when the drain outlasts the deadline', async () => {
    const { signals, exits, logged } = harness(() => new Promise<void>(() => {}), 20);
    signals.emit('SIGTERM', 'SIGTERM');
    await tick(60);
    assert.deepEqual(exits, [1]);
    assert.ok(logged.some((line) => /did not finish within 20ms/.test(line)), logged.join(' | '));
  });

  it('exits 1 when close fails', async () => {
    const { signals, exits } = harness(() => Promise.reject(new Error('disk gone')));
    signals.emit('SIGTERM', 'SIGTERM');
    await tick();
    assert.deepEqual(exits, [1]);
  });
});
