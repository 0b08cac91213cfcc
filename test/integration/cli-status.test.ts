// `shoal status` as a real process: a single node, and two swarm nodes joined by --bootstrap on loopback.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { freePort, startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';
import type { NodeStatus } from '../../src/daemon/status.ts';
import { CONTROL_CODES, runShoal } from './cli-run.ts';

/** A swarm node on loopback only, no mDNS: nothing leaves the machine. */
const LOOPBACK_SWARM = ['--p2p-port', '0', '--peer-port', '0', '--no-mdns', '--bind-address', '127.0.0.1'];

async function statusOf(node: ShoalProcess): Promise<NodeStatus> {
  return (await (await fetch(`${node.url}/_shoal/status`)).json()) as NodeStatus;
}

describe('shoal status', () => {
  let seed: SeedRegistry;
  let image: TestImage;
  let single: ShoalProcess;

  before(async () => {
    seed = await startSeedRegistry();
    image = await makeImage({ layers: [256 * 1024], seed: 'cli-status' });
    await pushImage(seed.url, 'app', '1', image);
    single = await startShoal({ upstreams: [seed.url] });
  });

  after(async () => {
    await single?.dispose();
    await seed?.stop();
    await image?.cleanup();
  });

  test('prints the node, its upstream with health, and says the swarm is off', async () => {
    const run = await runShoal(['status', '--listen', single.host]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stdout, CONTROL_CODES);
    assert.match(run.stdout, /^node +shoal \d+\.\d+\.\d+, up /m);
    assert.match(run.stdout, new RegExp(`^registry +http://${single.host}$`, 'm'));
    assert.match(run.stdout, new RegExp(`^data dir +${single.dataDir} \\(\\d+ blobs?, [\\d.]+ (B|KiB|MiB)\\)$`, 'm'));
    assert.match(run.stdout, new RegExp(`^upstream +${seed.url.replaceAll('.', '\\.')}  up$`, 'm'));
    assert.match(run.stdout, /^swarm +off \(--no-swarm\)/m);
    assert.match(run.stdout, /^peers: none \(the swarm is off\)$/m);
  });

  test('--json prints the daemon\'s snapshot', async () => {
    const run = await runShoal(['status', '--json', '--listen', single.host]);
    assert.equal(run.code, 0, run.stderr);
    const parsed = JSON.parse(run.stdout) as NodeStatus;
    assert.equal(parsed.node.listen, single.host);
    assert.equal(parsed.node.dataDir, single.dataDir);
    assert.deepEqual(parsed.upstreams.map((u) => u.url), [seed.url]);
    assert.equal(parsed.swarm.enabled, false);
  });

  test('daemon down: exit 1 and how to start it', async () => {
    const run = await runShoal(['status', '--listen', `127.0.0.1:${await freePort()}`]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /is shoal running\? start it with npm start \/ systemctl start shoal/);
  });

  describe('with a peer', () => {
    let a: ShoalProcess;
    let b: ShoalProcess;
    let aStatus: NodeStatus;

    before(async () => {
      a = await startShoal({ upstreams: [seed.url], swarm: true, args: LOOPBACK_SWARM });
      aStatus = await statusOf(a);
      b = await startShoal({ upstreams: [seed.url], swarm: true, args: [...LOOPBACK_SWARM, '--bootstrap', aStatus.node.multiaddrs![0]!] });
      await eventually(async () => (await statusOf(b)).peers.length === 1, 15_000, 'b to see a');
      // a holds the image (pushed to it, so b fetched none of it as a piece owner); b pulls it from a.
      // Pushed under a name the seed lacks: a blob HEAD answers 200 for one the seed has in that
      // repository, so a push as `app` would upload nothing and have a fetch it through the swarm.
      await pushImage(a.url, 'app-copy', '1', image);
      await eventually(async () => (await statusOf(b)).peers[0]!.blobs >= 2, 10_000, 'a\'s announcement');
      const bRun = await runShoal(['prefetch', '--listen', b.host, 'app:1']);
      assert.equal(bRun.code, 0, bRun.stdout + bRun.stderr);
      assert.match(bRun.stdout.trimEnd().split('\n').at(-1)!, /\(seed 0%, peers 100%\)$/, bRun.stdout);
    });

    after(async () => {
      await b?.dispose();
      await a?.dispose();
    });

    test('lists the peer id, p2p address and peer URL, and a table of peers', async () => {
      const run = await runShoal(['status', '--listen', b.host]);
      assert.equal(run.code, 0, run.stderr);
      const bStatus = await statusOf(b);
      assert.match(run.stdout, new RegExp(`^peer id +${bStatus.node.peerId}$`, 'm'));
      assert.match(run.stdout, /^p2p +\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//m);
      assert.match(run.stdout, new RegExp(`^peer url +${bStatus.node.peerUrl}$`, 'm'));
      assert.match(run.stdout, /^swarm +on, mDNS off, cluster key off$/m);
      assert.match(run.stdout, /^peers \(1\):$/m);
      assert.match(run.stdout, /^ {2}ADDRESS +PEER ID +LAST SEEN +BLOBS +RECEIVED +SERVED +CLOCK$/m);
      const aHost = new URL(aStatus.node.peerUrl!).host;
      const row = run.stdout.split('\n').find((line) => line.trimStart().startsWith(aHost));
      assert.ok(row, run.stdout);
      const cells = row.trim().split(/\s{2,}/);
      assert.equal(cells[0], aHost);
      assert.equal(cells[1], `${aStatus.node.peerId!.slice(0, 12)}…${aStatus.node.peerId!.slice(-6)}`);
      assert.match(cells[2]!, /^(now|\d+ s ago)$/);
      assert.ok(Number(cells[3]) >= 2, 'blobs held');
      assert.match(cells[4]!, /^[\d.]+ KiB$/, 'bytes received from a');
      assert.equal(cells[5], '0 B');
      assert.match(cells[6]!, /^[+-]\d+\.\d s$/);
    });
  });
});
