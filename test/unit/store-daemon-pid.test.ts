// The data directory's daemon pid file: claimed whole or not at all, and a pid counts as a running
// daemon only when it runs shoal's entry with `serve` (a pid reused by another program, even one
// whose arguments mention shoal, does not block a start).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Layout, claimDaemonPid, daemonPidPath, runningDaemonPid } from '../../src/store/index.ts';

describe('store: the daemon pid file', () => {
  let dir: string;
  let layout: Layout;
  const children: ChildProcess[] = [];
  const idle = (...args: string[]): ChildProcess => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ...args], { stdio: 'ignore' });
    children.push(child);
    return child;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-pid-'));
    layout = new Layout(dir);
  });
  after(async () => {
    for (const child of children) child.kill();
    await rm(dir, { recursive: true, force: true });
  });

  test('claimed on a fresh directory, released by its owner', async () => {
    const claim = await claimDaemonPid(layout);
    assert.ok('release' in claim);
    assert.equal((await readFile(daemonPidPath(layout), 'utf8')).trim(), String(process.pid));
    await claim.release();
    await assert.rejects(readFile(daemonPidPath(layout)));
    assert.deepEqual((await readdir(join(dir, 'shoal'))).filter((name) => name.startsWith('daemon.pid')), [], 'no temp file left');
  });

  test('a live daemon (shoal\'s entry with serve) keeps it; a dead pid or another program does not', async () => {
    const daemon = idle(join('/opt', 'shoal', 'bin', 'shoal.js'), 'serve');
    const lookalike = idle('/var/log/shoal.log', 'shoal-backup', 'serve');
    await writeFile(daemonPidPath(layout), `${daemon.pid}\n`);
    assert.deepEqual(await claimDaemonPid(layout), { other: daemon.pid });
    assert.equal(await runningDaemonPid(layout), daemon.pid);
    for (const stale of [String(lookalike.pid), '999999999']) {
      await writeFile(daemonPidPath(layout), `${stale}\n`);
      assert.equal(await runningDaemonPid(layout), undefined, stale);
      const claim = await claimDaemonPid(layout);
      assert.ok('release' in claim, `a file naming ${stale} is replaced`);
      await claim.release();
    }
  });
});

describe('store: records of where tags came from, unreadable', () => {
  test('a damaged seed-tags.json is forgotten with a warning (a lost record only keeps withdrawn tags served); a damaged pushed.json refuses the start', async () => {
    const { Store } = await import('../../src/store/index.ts');
    const dir = await mkdtemp(join(tmpdir(), 'shoal-records-'));
    try {
      await Store.open(dir);
      for (const damage of ['{"version":1,"manifests":[{"repo', 'null']) {
        await writeFile(join(dir, 'shoal', 'seed-tags.json'), damage);
        const { warnings } = await Store.open(dir);
        assert.equal(warnings.length, 1, damage);
        assert.match(warnings[0]!, /seed-tags\.json cannot be read or is not valid .*starting without it/);
        await writeFile(join(dir, 'shoal', 'seed-tags.json'), '{"version":1,"manifests":[]}');
        await writeFile(join(dir, 'shoal', 'pushed.json'), damage);
        await assert.rejects(Store.open(dir), /pushed\.json cannot be read or is not valid .*repair or remove it/);
        await rm(join(dir, 'shoal', 'pushed.json'));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
