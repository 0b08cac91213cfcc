// A second daemon must not start on a data directory a running one uses (its start-up recovery
// would remove the running one's temp files, and its exit the running one's pid file, after which
// `shoal gc` would delete blobs under it), nor on an address in use, and each refusal says what to do.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';
import { runShoal } from './cli-run.ts';

describe('a second daemon', () => {
  let running: ShoalProcess;
  let spare: string;
  before(async () => {
    running = await startShoal({});
    spare = await mkdtemp(join(tmpdir(), 'shoal-second-'));
  });
  after(async () => {
    await running?.dispose();
    await rm(spare, { recursive: true, force: true });
  });

  test('on the same data directory: refused, naming the running pid; the running daemon keeps its pid file and serves', async () => {
    const pidFile = join(running.dataDir, 'shoal', 'daemon.pid');
    const pid = (await readFile(pidFile, 'utf8')).trim();
    const second = await runShoal(['serve', '--data-dir', running.dataDir, '--listen', `127.0.0.1:${await freePort()}`, '--no-swarm', '--log-level', 'error']);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`shoal: another shoal daemon \\(pid ${pid}\\) is using ${running.dataDir}: stop it first, or give this one its own --data-dir`));
    assert.equal((await readFile(pidFile, 'utf8')).trim(), pid);
    assert.equal((await fetch(`${running.url}/v2/`)).status, 200);
  });

  test('on an address in use: refused with what to do', async () => {
    const second = await runShoal(['serve', '--data-dir', spare, '--listen', new URL(running.url).host, '--no-swarm', '--log-level', 'error']);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /EADDRINUSE.*another program \(another shoal daemon, registry:2\?\) listens there; stop it, or choose another port/);
  });

  test('on a p2p port in use: exits at once with what to do, and lets go of what it opened (the peer port, the pid file)', async () => {
    const p2pPort = await freePort();
    const peerPort = await freePort();
    const taken = createServer().listen(p2pPort, '127.0.0.1');
    await once(taken, 'listening');
    try {
      const args = ['serve', '--data-dir', spare, '--listen', `127.0.0.1:${await freePort()}`, '--bind-address', '127.0.0.1', '--no-mdns', '--p2p-port', String(p2pPort), '--peer-port', String(peerPort), '--log-level', 'error'];
      // Before, libp2p's failure left the peer port listening and the process running for good.
      const second = await runShoal(args, { timeoutMs: 30_000 });
      assert.equal(second.code, 1, second.stderr);
      assert.equal(second.stderr.trim(), `shoal: the p2p port ${p2pPort} is in use: another program (another shoal daemon?) listens there; stop it, or choose another --p2p-port`);
      await assert.rejects(access(join(spare, 'shoal', 'daemon.pid')), 'the pid file is removed');
      const peer = createServer().listen(peerPort, '127.0.0.1');
      await once(peer, 'listening');
      peer.close();
    } finally {
      taken.close();
    }
  });
});
