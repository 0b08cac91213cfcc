import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { SETTING_IDS, SETTINGS, type Setting } from '../../src/config/schema.ts';
import { exitOnShutdownSignals } from '../../src/cli/shutdown.ts';
import { loadClusterKey } from '../../src/swarm/cluster-key.ts';

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
  return shoalWithEnv({}, ...args);
}

/** The same, with these variables set. */
function shoalWithEnv(extra: Record<string, string>, ...args: string[]): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHOAL_') && name !== 'DOCKER_CONFIG'));
  return new Promise((resolve) => {
    execFile(node, [join(repo, 'bin', 'shoal.js'), ...args], { cwd: home, env: { ...env, ...extra, HOME: home } }, (error, stdout, stderr) => {
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

  it('turns the swarm and mDNS off with --no-swarm and --no-mdns, and leaves SHOAL_MDNS alone when the flag is absent', async () => {
    const swarmOf = (run: Run) => (parse(run.stdout) as { swarm: Record<string, unknown> }).swarm;
    const defaults = await shoal('config');
    assert.equal(defaults.code, 0, defaults.stderr);
    assert.deepEqual(swarmOf(defaults), { enabled: true, p2pport: 5001, peerport: 5002, bindaddress: '0.0.0.0', bootstrap: [], mdns: true, piecesize: '4MiB' });
    const flags = await shoal('config', '--no-swarm', '--no-mdns');
    assert.equal(flags.code, 0, flags.stderr);
    assert.equal(swarmOf(flags)['enabled'], false);
    assert.equal(swarmOf(flags)['mdns'], false);
    const env = await shoalWithEnv({ SHOAL_MDNS: 'false', SHOAL_SWARM: 'false' }, 'config');
    assert.equal(env.code, 0, env.stderr);
    assert.equal(swarmOf(env)['mdns'], false, 'commander\'s implicit --no-mdns default must not hide the environment');
    assert.equal(swarmOf(env)['enabled'], false);
  });

  it('exits 2 naming --bootstrap and showing an example when the peer id is missing', async () => {
    const run = await shoal('serve', '--bootstrap', '/ip4/10.0.0.5/tcp/5001');
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^shoal: invalid --bootstrap "\/ip4\/10\.0\.0\.5\/tcp\/5001": expected a multiaddr ending in \/p2p\/<peer id> such as \/ip4\/10\.0\.0\.5\/tcp\/5001\/p2p\/12D3KooW\.\.\.[^\n]*\n$/);
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

describe('shoal keygen', () => {
  const hint = /copy it to every host and start shoal with --cluster-key/;

  it('prints a key loadClusterKey accepts on stdout, and the hint on stderr, without --output', async () => {
    const run = await shoal('keygen');
    assert.equal(run.code, 0, run.stderr);
    const path = join(home, 'printed.key');
    await writeFile(path, run.stdout);
    assert.equal((await loadClusterKey(path)).psk.length, 32);
    assert.match(run.stderr, hint);
    assert.equal(run.stderr.split('\n').length, 2, 'one line');
    const again = await shoal('keygen');
    assert.notEqual(again.stdout, run.stdout, 'a new key each time');
  });

  it('writes a 0600 file that loadClusterKey accepts, refuses to overwrite it, and replaces it with --force', async () => {
    const path = join(home, 'cluster.key');
    const first = await shoal('keygen', '--output', 'cluster.key');
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, '', 'the key goes to the file only');
    assert.match(first.stderr, hint);
    assert.ok(first.stderr.includes(path));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const key = await loadClusterKey(path);

    const refused = await shoal('keygen', '--output', path);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^shoal: --output .*cluster\.key exists; refusing to overwrite it.*pass --force to replace it\n$/);
    assert.deepEqual((await loadClusterKey(path)).psk, key.psk, 'untouched');

    await chmod(path, 0o644);
    const forced = await shoal('keygen', '-o', path, '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.notDeepEqual((await loadClusterKey(path)).psk, key.psk, 'a new key');
    assert.equal((await stat(path)).mode & 0o777, 0o600, 'not the old file\'s mode');

    const config = await shoal('config', '--cluster-key', path);
    assert.equal(config.code, 0, config.stderr);
    assert.equal((parse(config.stdout) as { swarm: { clusterkey: string } }).swarm.clusterkey, path);
  });

  it('fails with a message for a directory or a missing folder', async () => {
    const directory = await shoal('keygen', '--output', home, '--force');
    assert.equal(directory.code, 2);
    assert.match(directory.stderr, /is a directory/);
    const missing = await shoal('keygen', '--output', join(home, 'no', 'such', 'dir', 'k'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^shoal: cannot write cluster key .* \(ENOENT\): its directory .* does not exist; create it first\n$/);
  });
});
