// Cluster preheat across hosts: every host a network namespace running a real `shoal serve` on a
// keyed swarm, the seed a real docker-registry, `shoal prefetch --all-nodes` / `shoal preheat` run
// as a real process inside one host (in a pipe: plain lines). What each node holds is read from
// its data directory (the blob files hashed) and from its own preheat record.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitOf } from '../helpers/cluster/host-client.ts';
import { keygen, PEER_PORT, ROOT, startCluster, type Cluster, type ClusterNode } from '../helpers/cluster.ts';
import { makeImage, type TestImage } from '../helpers/images.ts';

const MiB = 1024 * 1024;
const SHOAL_BIN = join(ROOT, 'bin', 'shoal.js');
const CONTROL_CODES = /\x1b|\r/;

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `shoal <args>` inside the node's host, talking to its daemon (127.0.0.1:5000), stdout a pipe. */
function startCli(node: ClusterNode, args: readonly string[]): Promise<CliRun> {
  const child = node.host.spawnNode(SHOAL_BIN, [...args, '--listen', '127.0.0.1:5000'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return exitOf(child, 180_000).then(({ code }) => ({ code, stdout, stderr }));
}

interface JobView {
  readonly id: string;
  readonly askedBy?: string;
  readonly images: string[];
  readonly nodes: Array<{ peerId: string; self: boolean; state: string; done: number; total: number }>;
}

async function preheatJobs(node: ClusterNode): Promise<JobView[]> {
  const { status, body } = await node.curl('http://127.0.0.1:5000/_shoal/preheat');
  assert.equal(status, 200, body);
  return (JSON.parse(body) as { jobs: JobView[] }).jobs;
}

async function holdsAll(node: ClusterNode, image: TestImage): Promise<string[]> {
  const missing: string[] = [];
  for (const blob of image.blobs) if ((await node.storedDigest(blob.digest)) !== blob.digest) missing.push(blob.digest);
  return missing;
}

describe('cluster preheat on a keyed swarm', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let keyDir: string;
  let h1: ClusterNode, h2: ClusterNode, h3: ClusterNode;
  let app: TestImage, tools: TestImage, secret: TestImage, big: TestImage, slow: TestImage;

  before(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'shoal-preheat-key-'));
    const key = join(keyDir, 'cluster.key');
    keygen(key);
    app = await makeImage({ layers: [6 * MiB, 2 * MiB], seed: 'preheat-app' });
    tools = await makeImage({ layers: [1 * MiB], seed: 'preheat-tools' });
    secret = await makeImage({ layers: [1 * MiB], seed: 'preheat-secret' });
    big = await makeImage({ layers: [48 * MiB, 16 * MiB], seed: 'preheat-big' });
    slow = await makeImage({ layers: [16 * MiB], seed: 'preheat-slow' });
    const keyed = ['--cluster-key', key];
    cluster = await startCluster({
      hosts: 3,
      seed: { images: [{ repo: 'app', tag: '1', image: app }, { repo: 'tools', tag: '1', image: tools }, { repo: 'secret', tag: '1', image: secret }, { repo: 'big', tag: '1', image: big }, { repo: 'slow', tag: '1', image: slow }] },
      nodeArgs: { h1: keyed, h2: keyed, h3: keyed },
    });
    [h1, h2, h3] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode];
  });
  after(async () => {
    await cluster?.dispose();
    await Promise.all([app, tools, secret, big, slow].map((image) => image?.cleanup()));
    if (keyDir) await rm(keyDir, { recursive: true, force: true });
  });

  test('prefetch --all-nodes on one node: every node holds every blob; plain lines per node; exit 0', async () => {
    const run = await startCli(h2, ['prefetch', '--all-nodes', 'app:1', 'tools:1']);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}\n${cluster.logTails(20)}`);
    assert.doesNotMatch(run.stdout, CONTROL_CODES, 'no control codes in a pipe');
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^preheating app:1, tools:1 on 3 nodes \(this node, 10\.[\d.]+, 10\.[\d.]+\)$/);
    for (const label of ['this node', h1.address, h3.address]) {
      assert.match(run.stdout, new RegExp(`^${label.replaceAll('.', '\\.')}: done, 9\\.0 MiB in [\\d.]+ s$`, 'm'), run.stdout);
    }
    assert.match(lines.at(-1)!, /^preheated 2 images on 3 nodes, 9\.0 MiB each, in [\d.]+ s$/);
    for (const node of [h1, h2, h3]) {
      assert.deepEqual(await holdsAll(node, app), [], `${node.name} holds app:1`);
      assert.deepEqual(await holdsAll(node, tools), [], `${node.name} holds tools:1`);
    }
    // Each node pulled through its own fetcher, so the piece owners still asked the seed once per piece.
    const blobs = [...app.blobs, ...tools.blobs];
    const size = blobs.reduce((sum, blob) => sum + blob.size, 0);
    const fromSeed = await cluster.seed!.blobBytesServed({ digests: blobs.map((b) => b.digest) });
    console.log(`# preheat of ${size} bytes on 3 nodes: the seed served ${fromSeed} bytes (${(fromSeed / size).toFixed(3)}x)`);
    assert.ok(fromSeed <= size * 1.02, `the seed served ${fromSeed} bytes for ${size} bytes of images`);
    // The asker's record has every node done; each worker's has its own share, asked by h2.
    const [asked] = await preheatJobs(h2);
    assert.equal(asked!.askedBy, undefined);
    assert.deepEqual(asked!.nodes.map((n) => n.state), ['done', 'done', 'done']);
    assert.deepEqual(new Set(asked!.nodes.map((n) => n.peerId)), new Set([h1.peerId, h2.peerId, h3.peerId]));
    for (const worker of [h1, h3]) {
      const [served] = await preheatJobs(worker);
      assert.equal(served!.askedBy, h2.peerId);
      const bytes = [app, tools].flatMap((image) => image.blobs).reduce((sum, blob) => sum + blob.size, 0);
      assert.deepEqual(served!.nodes.map((n) => [n.state, n.done, n.total]), [['done', bytes, bytes]]);
    }
  });

  test('an unknown image or a malformed name: a clear error, and no node is asked', async () => {
    const jobsBefore = (await preheatJobs(h1)).length;
    const unknown = await startCli(h2, ['preheat', 'nope:1']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^shoal: nope:1: not found: neither this node nor its upstreams have it; check the name and tag/m);
    assert.match(unknown.stderr, /nothing was asked of the other nodes/);
    const malformed = await startCli(h2, ['preheat', 'Bad/Name:1']);
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /"Bad\/Name" is not a valid repository name; repository names are lowercase: bad\/name/);
    assert.equal((await preheatJobs(h1)).length, jobsBefore, 'h1 was never asked');
  });

  test('a keyless host cannot trigger a preheat: not over the swarm, not over the peer port', async () => {
    // Started with the keyed nodes' address to dial, and mDNS finds them too: pnet refuses both ways.
    const stranger = await cluster.addNode('stranger', { args: ['--bootstrap', `/ip4/${h1.address}/tcp/5001/p2p/${h1.peerId}`], expectedPeers: 0 });
    const jobsBefore = await Promise.all([h1, h2, h3].map(async (node) => (await preheatJobs(node)).length));
    const run = await startCli(stranger, ['preheat', 'secret:1']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^preheating secret:1 on 1 node \(this node\)$/m, 'the stranger knows no member to ask');
    assert.equal((await stranger.figures()).peers, 0);
    // Its daemon's other way in: the keyed nodes' peer port (TLS with a key-derived PSK) has no preheat route, and
    // without the key no request gets through at all.
    for (const scheme of ['https', 'http']) {
      const direct = await stranger.exec('curl', ['-sk', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', '-H', 'content-type: application/json',
        '--data', '{"images":[{"name":"secret","reference":"1"}]}', `${scheme}://${h1.address}:${PEER_PORT}/_shoal/preheat`]);
      assert.equal(direct.stdout, '000', `${scheme}: no HTTP answer without the key (curl exit ${direct.code})`);
    }
    // The registry API (and so the admin API) listens on each node's loopback only.
    const registry = await stranger.exec('curl', ['-s', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', `http://${h1.address}:5000/_shoal/preheat`]);
    assert.equal(registry.stdout, '000');
    for (const [i, node] of [h1, h2, h3].entries()) {
      assert.equal((await preheatJobs(node)).length, jobsBefore[i], `${node.name} got no preheat`);
      assert.equal((await holdsAll(node, secret)).length, secret.blobs.length, `${node.name} fetched nothing of secret:1`);
    }
    await stranger.crash();
  });

  test('a node killed mid-preheat is reported lost, and the exit code is 1', async () => {
    const startedAt = Date.now();
    const running = startCli(h1, ['preheat', 'big:1']);
    // h3 has started its share: kill it there and then.
    await h3.waitForLog((line) => line.msg === 'preheat asked by a peer' && Number(line.time) >= startedAt, 60_000, 'h3 to be asked');
    await h3.crash();
    const run = await running;
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, new RegExp(`^${h3.address.replaceAll('.', '\\.')}: lost: lost the node \\(.+\\): check that shoal runs there`, 'm'), run.stdout);
    assert.match(run.stdout, new RegExp(`^preheated 1 image on 2 of 3 nodes, 64\\.0 MiB each, in [\\d.]+ s; failed: ${h3.address.replaceAll('.', '\\.')}$`, 'm'));
    for (const node of [h1, h2]) assert.deepEqual(await holdsAll(node, big), [], `${node.name} holds big:1`);
  });

  test('a node whose cable is pulled mid-preheat is reported lost (its connection times out, or 30 s without a report)', async () => {
    // h2 holds the image already, so its own share is instant and only h1's silence is waited for;
    // h1's link is slow, so its share is still running when its cable goes.
    const local = await startCli(h2, ['prefetch', 'slow:1']);
    assert.equal(local.code, 0, local.stdout + local.stderr);
    await h1.host.shape({ rateMbit: 8 });
    const startedAt = Date.now();
    const running = startCli(h2, ['preheat', 'slow:1']);
    await h1.waitForLog((line) => line.msg === 'preheat asked by a peer' && Number(line.time) >= startedAt, 60_000, 'h1 to be asked');
    await h1.host.setLinkUp(false);
    const run = await running;
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, new RegExp(`^${h1.address.replaceAll('.', '\\.')}: lost: lost the node \\((its connection timed out|no report for 30 s)\\): check that shoal runs there`, 'm'), run.stdout);
    assert.match(run.stdout, /^this node: done, /m);
  });
});
