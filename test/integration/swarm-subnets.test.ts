// The swarm across two subnets: two test LANs (network namespaces on two bridges) joined by a
// router namespace that forwards unicast and no multicast, as an office router does. mDNS finds
// the hosts inside each subnet; one host of subnet B has one bootstrap address on subnet A; peer
// exchange must carry the rest. The seed (a real docker-registry) sits on subnet A. Needs root,
// iproute2, curl, skopeo and docker-registry; without them these tests fail with the reason.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { exitOf } from '../helpers/cluster/host-client.ts';
import { startDaemon } from '../helpers/cluster/daemon.ts';
import { fillSeedData, startSeedHost } from '../helpers/cluster/seed-host.ts';
import { figuresDelta, P2P_PORT, ROOT, type ClusterNode, type ClusterSeed } from '../helpers/cluster.ts';
import { makeImage, type TestImage } from '../helpers/images.ts';
import { connectNetworks, createTestNetwork, type TestHost, type TestNetwork, type TestRouter } from '../helpers/netns.ts';
import { NETNS_PROBE } from '../helpers/netns-probe.ts';

const MiB = 1024 * 1024;
const SUBNET_A = '10.213.40.0/24';
const SUBNET_B = '10.213.41.0/24';

/** The first datagram `receiver` gets on the mDNS group after `senders` each sent theirs, in order. */
async function firstMdnsDatagram(receiver: TestHost, senders: readonly TestHost[]): Promise<{ from: string; message: string }> {
  const child = receiver.spawnNode(NETNS_PROBE, ['mcast-recv', '224.0.0.251', '5353', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'READY');
  for (const sender of senders) {
    const sent = await sender.exec(process.execPath, [NETNS_PROBE, 'mcast-send', '224.0.0.251', '5353', `from-${sender.name}`, '3', '50']);
    assert.equal(sent.code, 0, sent.stderr);
  }
  const first = await lines.next();
  await exitOf(child, 5_000);
  return JSON.parse(String(first.value)) as { from: string; message: string };
}

describe('two subnets joined by a router', { timeout: 300_000 }, () => {
  let workDir: string;
  let netA: TestNetwork, netB: TestNetwork;
  let router: TestRouter;
  let seed: ClusterSeed;
  const nodes: ClusterNode[] = [];
  let a1: ClusterNode, a2: ClusterNode, b1: ClusterNode, b2: ClusterNode;
  let image: TestImage, warm: TestImage;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'shoal-subnets-'));
    image = await makeImage({ layers: [12 * MiB, 4 * MiB], seed: 'subnets-image' });
    warm = await makeImage({ layers: [3 * MiB], seed: 'subnets-warm' });
    netA = await createTestNetwork({ hosts: ['a1', 'a2'], subnet: SUBNET_A });
    netB = await createTestNetwork({ hosts: ['b1', 'b2'], subnet: SUBNET_B });
    await fillSeedData(join(workDir, 'seed-data'), [{ repo: 'app', tag: '1', image }, { repo: 'warm', tag: '1', image: warm }]);
    const seedHost = await netA.addHost('seed');
    router = await connectNetworks([netA, netB]);
    seed = await startSeedHost(seedHost, { dataDir: join(workDir, 'seed-data'), workDir });
  });
  after(async () => {
    await Promise.allSettled(nodes.map((node) => node.crash()));
    await seed?.stop().catch(() => undefined);
    await router?.destroy();
    await Promise.allSettled([netA?.destroy(), netB?.destroy()]);
    await Promise.all([image, warm].map((i) => i?.cleanup()));
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test('the router forwards unicast and no multicast: subnet B reaches the seed, and B\'s mDNS never reaches A', async () => {
    const toSeed = await netB.host('b2').exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `${seed.url}/v2/`]);
    assert.equal(toSeed.stdout, '200');
    // b1 sends first: had its datagrams crossed, a2's first would be b1's.
    const first = await firstMdnsDatagram(netA.host('a2'), [netB.host('b1'), netA.host('a1')]);
    assert.deepEqual(first, { from: netA.host('a1').address, message: 'from-a1' });
  });

  test('one bootstrap address across: every host meets every other, on both subnets', async () => {
    const start = (host: TestHost, args: readonly string[] = []): Promise<ClusterNode> =>
      startDaemon(host, { dataDir: join(workDir, 'nodes', host.name), workDir, args: ['--upstream', seed.url, ...args] });
    [a1, a2] = await Promise.all([start(netA.host('a1')), start(netA.host('a2'))]);
    nodes.push(a1, a2);
    b1 = await start(netB.host('b1'), ['--bootstrap', `/ip4/${a1.address}/tcp/${P2P_PORT}/p2p/${a1.peerId}`]);
    b2 = await start(netB.host('b2'));
    nodes.push(b1, b2);
    assert.ok(!b2.args.includes('--bootstrap') && !a2.args.includes('--bootstrap'));
    try {
      await Promise.all(nodes.map((node) => node.waitForPeers(3, 90_000)));
    } catch (error) {
      (error as Error).message += `\n${nodes.map((n) => n.logTail(15)).join('\n')}`;
      throw error;
    }
    // b2 heard of subnet A only from b1 (peer exchange), a2 of subnet B only from a1.
    const ids = new Set(nodes.map((n) => n.peerId));
    for (const node of nodes) {
      const peers = (await node.figures()).status.peers.map((p) => p.peerId);
      assert.deepEqual(new Set([...peers, node.peerId]), ids, `${node.name} sees every host`);
    }
  });

  test('a blob pulled on subnet A is fetched on subnet B from the peers, not the seed', async () => {
    await a1.pull('app:1');
    seed.clearLog();
    const before = await b2.figures();
    await b2.pull('app:1');
    const d = figuresDelta(before, await b2.figures());
    const size = image.blobs.reduce((sum, blob) => sum + blob.size, 0);
    const seedGets = await seed.blobGets({ digests: image.blobs.map((b) => b.digest) });
    const fromA = [a1, a2].reduce((sum, node) => sum + (d.receivedFrom.get(node.peerId) ?? 0), 0);
    console.log(`# b2 pulled ${size} bytes: ${d.peerReceivedBytes} from peers (${fromA} from subnet A), ${d.seedBytes} from the seed; seed blob GETs: ${seedGets.length}`);
    assert.deepEqual(seedGets.map((r) => `${r.remote} ${r.path}`), [], 'the seed sent no blob of app:1 during b2\'s pull');
    assert.equal(d.seedBytes, 0);
    assert.ok(fromA > 0, `b2 got bytes from subnet A's hosts: ${JSON.stringify([...d.receivedFrom])}`);
    for (const blob of image.blobs) assert.equal(await b2.storedDigest(blob.digest), blob.digest);
  });

  test('a preheat asked on subnet B reaches every host on both subnets', async () => {
    const run = await b2.exec(process.execPath, [join(ROOT, 'bin', 'shoal.js'), 'preheat', 'warm:1', '--listen', '127.0.0.1:5000'], { cwd: ROOT, timeoutMs: 120_000 });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^preheated 1 image on 4 nodes, /m);
    for (const node of nodes) {
      for (const blob of warm.blobs) assert.equal(await node.storedDigest(blob.digest), blob.digest, `${node.name} holds ${blob.digest}`);
    }
  });
});

