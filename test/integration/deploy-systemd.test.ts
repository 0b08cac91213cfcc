// deploy/shoal.service and its companions: the keys a host relies on (restart, user, state
// directory, settings file, hardening), `systemd-analyze verify` finding nothing to say, the
// offline security score, and deploy/shoal.env.example naming only real settings.
import assert from 'node:assert/strict';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../src/daemon/runtime-flags.ts';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const UNIT = `${repo}/deploy/shoal.service`;

/** [Section] → key → every value given, in order (systemd keys may repeat). */
type Unit = Map<string, Map<string, string[]>>;

function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section && eq > 0, `a key=value line inside a section: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

async function hasCommand(name: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${name}`]);
    return true;
  } catch {
    return false;
  }
}

describe('deploy/shoal.service', async () => {
  const unit = parseUnit(await readFile(UNIT, 'utf8'));
  const service = unit.get('Service') ?? new Map<string, string[]>();
  const one = (key: string) => service.get(key)?.at(-1);

  test('has [Unit], [Service] and [Install] wanted by multi-user.target', () => {
    assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
    assert.equal(unit.get('Install')?.get('WantedBy')?.[0], 'multi-user.target');
    assert.match(unit.get('Unit')?.get('After')?.join(' ') ?? '', /network-online\.target/);
  });

  test('restarts always, runs shoal serve with an absolute Node path, as its own user', () => {
    assert.equal(one('Restart'), 'always');
    const exec = one('ExecStart')?.split(/\s+/) ?? [];
    assert.match(exec[0] ?? '', /^\/\S+\/node$/, 'ExecStart starts with the absolute path of node');
    const flags = exec.slice(1).filter((word) => word.startsWith('--'));
    assert.deepEqual(flags, [...DAEMON_NODE_FLAGS], 'the V8 flags the daemon is measured with');
    const rest = exec.slice(1 + flags.length);
    assert.match(rest[0] ?? '', /^\/\S+\/bin\/shoal\.js$/);
    assert.equal(rest[1], 'serve');
    for (const [key, value] of Object.entries(DAEMON_ENV)) assert.ok(service.get('Environment')?.includes(`${key}=${value}`), `the malloc setting the daemon is measured with: ${key}`);
    assert.equal(one('User'), 'shoal');
    assert.equal(one('DynamicUser') ?? 'no', 'no');
    assert.ok(Number.parseInt(one('TimeoutStopSec') ?? '0', 10) > 30, 'time for the 30 s drain before SIGKILL');
  });

  test('keeps its data in /var/lib/shoal and reads SHOAL_* settings from /etc/default/shoal', () => {
    assert.equal(one('StateDirectory'), 'shoal');
    assert.ok(service.get('Environment')?.includes('SHOAL_DATA_DIR=/var/lib/shoal'));
    assert.equal(one('EnvironmentFile'), '-/etc/default/shoal', 'optional (leading -) settings file');
    assert.equal(one('WorkingDirectory'), '/var/lib/shoal');
  });

  test('is hardened', () => {
    assert.equal(one('NoNewPrivileges'), 'yes');
    assert.equal(one('ProtectSystem'), 'strict');
    assert.ok(service.get('ReadWritePaths')?.join(' ').split(/\s+/).includes('/var/lib/shoal'), 'ReadWritePaths=/var/lib/shoal');
    assert.equal(one('PrivateTmp'), 'yes');
    assert.equal(one('ProtectHome'), 'yes');
    assert.equal(one('CapabilityBoundingSet'), '', 'no capabilities');
    assert.match(one('RestrictAddressFamilies') ?? '', /AF_INET\b.*AF_INET6.*AF_NETLINK/);
    assert.notEqual(one('MemoryDenyWriteExecute'), 'yes', "V8's JIT needs W+X pages");
  });

  test('systemd-analyze verify finds nothing to report', async () => {
    assert.ok(await hasCommand('systemd-analyze'), 'systemd-analyze is not installed: apt-get install systemd (.ci/run does)');
    // verify checks that ExecStart's binary exists: point it at this checkout's Node and shoal.js.
    const dir = await mkdtemp(join(tmpdir(), 'shoal-unit-'));
    try {
      const text = (await readFile(UNIT, 'utf8')).replace(/^ExecStart=\S+ (?:--\S+ )*\S+/m, `ExecStart=${process.execPath} ${repo}/bin/shoal.js`);
      await writeFile(join(dir, 'shoal.service'), text);
      const { stdout, stderr } = await run('systemd-analyze', ['verify', join(dir, 'shoal.service')], { timeout: 60_000 });
      // Unknown keys and bad values are only warnings (exit 0): any line about the unit is a failure.
      const about = `${stdout}\n${stderr}`.split('\n').filter((l) => l.includes('shoal.service'));
      assert.deepEqual(about, []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('systemd-analyze security rates its exposure low', async () => {
    assert.ok(await hasCommand('systemd-analyze'), 'systemd-analyze is not installed: apt-get install systemd (.ci/run does)');
    const { stdout } = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT], { timeout: 60_000 }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
    const score = /Overall exposure level for \S+: ([\d.]+)/.exec(stdout);
    assert.ok(score, `systemd-analyze security --offline printed no exposure level:\n${stdout}`);
    assert.ok(Number(score[1]) <= 2.5, `exposure ${score[1]} (0 best, 10 worst)`);
  });
});

describe('deploy/shoal.sysusers and deploy/shoal.env.example', () => {
  test('the sysusers line makes the unit user with /var/lib/shoal as home and no shell', async () => {
    const lines = (await readFile(`${repo}/deploy/shoal.sysusers`, 'utf8')).split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    assert.equal(lines.length, 1);
    const [type, name, id, , home, shell] = lines[0]!.match(/"[^"]*"|\S+/g) ?? [];
    assert.deepEqual([type, name, id, home, shell], ['u', 'shoal', '-', '/var/lib/shoal', '/usr/sbin/nologin']);
  });

  test('every SHOAL_ variable in the example is a setting of shoal serve', async () => {
    const example = await readFile(`${repo}/deploy/shoal.env.example`, 'utf8');
    const named = new Set([...example.matchAll(/^#?(SHOAL_[A-Z0-9_]+)=/gm)].map((m) => m[1]!));
    assert.ok(named.has('SHOAL_UPSTREAM'));
    const { stdout } = await run(process.execPath, [`${repo}/bin/shoal.js`, 'serve', '--help'], { timeout: 60_000 });
    const { stdout: top } = await run(process.execPath, [`${repo}/bin/shoal.js`, '--help'], { timeout: 60_000 });
    const known = new Set([...`${stdout}\n${top}`.matchAll(/\bSHOAL_[A-Z0-9_]+\b/g)].map((m) => m[0]));
    for (const name of named) assert.ok(known.has(name), `${name} is listed by shoal --help`);
    // Uncommented lines are plain VAR=value: systemd does no shell expansion.
    for (const line of example.split('\n').filter((l) => /^[A-Z]/.test(l))) assert.match(line, /^SHOAL_[A-Z0-9_]+=[^$`"']*$/);
  });
});
