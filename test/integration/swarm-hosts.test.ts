// The swarm across hosts: every host a network namespace on a bridged test LAN running a real
// `shoal serve`, the seed a real docker-registry on its own host, pulls by skopeo inside the
// hosts (skopeo verifies every blob's digest). Counts come from each daemon's status snapshot and
// from the seed's access log. Needs root, iproute2, curl, skopeo and docker-registry; without them
// these tests fail with the reason, they never skip.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { figuresDelta, keygen, startCluster, type Cluster, type ClusterNode, type NodeFigures } from '../helpers/cluster.ts';
import { makeImage, makeTarLayer, randomBytesFrom, type TestImage } from '../helpers/images.ts';

const MiB = 1024 * 1024;
const imageBytes = (image: TestImage): number => image.blobs.reduce((sum, b) => sum + b.size, 0);
const digestsOf = (image: TestImage): string[] => image.blobs.map((b) => b.digest);
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(2)} MiB`;

interface Delta {
  readonly seed: number;
  readonly received: number;
  readonly served: number;
  readonly failures: number;
  /** bytes received from each peer id */
  readonly fromPeer: Map<string, number>;
}

function delta(before: NodeFigures, after: NodeFigures): Delta {
  const d = figuresDelta(before, after);
  return { seed: d.seedBytes, received: d.peerReceivedBytes, served: d.peerServedBytes, failures: d.verificationFailures, fromPeer: new Map(d.receivedFrom) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An OCI image of real gzipped tar layers (one file of random bytes each), for pushing with
 * skopeo: skopeo compresses layers that are not gzip on push, which would change their digests.
 */
function tarImage(seed: string, sizes: readonly number[]): Promise<TestImage> {
  const layers = sizes.map((size, i) => makeTarLayer([{ name: `data-${i}.bin`, content: randomBytesFrom(`${seed}/${i}`, size) }], 'oci'));
  return makeImage({ layers, seed, format: 'oci' });
}

/** Runs `check`; on failure, the error carries the log tails of the nodes involved. */
async function withLogs<T>(nodes: readonly ClusterNode[], check: () => Promise<T> | T): Promise<T> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof Error && !error.message.includes('shoal log, last')) {
      error.message += `\n${nodes.map((n) => n.logTail(30)).join('\n')}`;
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------

describe('discovery by mDNS alone', { timeout: 60_000 }, () => {
  let cluster: Cluster | undefined;
  after(async () => {
    await cluster?.dispose();
  });

  test('1. two hosts find each other by mDNS (no bootstrap list) within 2 s of both running', async () => {
    // h1 runs alone first, so h2 is a real late joiner: nobody has heard of it before it starts.
    cluster = await startCluster({ hosts: ['h1'], expectedPeers: 0 });
    const h1 = cluster.node('h1');
    assert.ok(!h1.args.includes('--bootstrap'));
    await sleep(1_000);
    const h2 = await cluster.addNode('h2', { expectedPeers: 1 });
    await withLogs([h1, h2], async () => {
      const bothRunning = Math.max(h1.swarmStartedAt, h2.swarmStartedAt);
      const joined = async (node: ClusterNode, other: ClusterNode) =>
        Number((await node.waitForLog((l) => l.msg === 'peer joined' && l.peer === other.peerId, 5_000, `${other.name} to join`)).time);
      const seenBy1 = (await joined(h1, h2)) - bothRunning;
      const seenBy2 = (await joined(h2, h1)) - bothRunning;
      const discoveryMs = Math.max(seenBy1, seenBy2);
      console.log(`# discovery: h1 saw h2 ${seenBy1} ms and h2 saw h1 ${seenBy2} ms after both swarms were running → ${discoveryMs} ms`);
      assert.ok(discoveryMs <= 2_000, `discovery took ${discoveryMs} ms`);
      for (const node of [h1, h2]) assert.equal((await node.figures()).peers, 1, `${node.name} peers`);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('four hosts and a seed', { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let h1: ClusterNode, h2: ClusterNode, h3: ClusterNode, h4: ClusterNode;
  let small: TestImage, big: TestImage, killImage: TestImage, liarImage: TestImage;

  before(async () => {
    small = await makeImage({ layers: [1536 * 1024, 512 * 1024], seed: 'hosts-small' });
    big = await makeImage({ layers: [48 * MiB, 16 * MiB], seed: 'hosts-big' });
    killImage = await makeImage({ layers: [40 * MiB], seed: 'hosts-kill' });
    liarImage = await tarImage('hosts-liar', [12 * MiB]);
    cluster = await startCluster({
      hosts: 4,
      seed: {
        images: [
          { repo: 'small', tag: '1', image: small },
          { repo: 'big', tag: '1', image: big },
          { repo: 'kill', tag: '1', image: killImage },
          { repo: 'liar', tag: '1', image: liarImage },
        ],
      },
    });
    [h1, h2, h3, h4] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode, ClusterNode];
  });
  after(async () => {
    await cluster?.dispose();
    await Promise.all([small, big, killImage, liarImage].map((i) => i?.cleanup()));
  });

  test('2. B pulls what A pulled: 0 blob bytes from the seed, the rest from A', async () => {
    await withLogs([h1, h2], async () => {
      await h1.pull('small:1');
      // While A pulled, every member owned some pieces: B may already keep the ones it fetched
      // for A (as their owner). Those are all B got from the seed, and only during A's pull.
      const ownedByB = await cluster.seed!.blobBytesServed({ from: h2, digests: digestsOf(small) });
      cluster.seed!.clearLog();
      const before = await h2.figures();
      await h2.pull('small:1');
      const d = delta(before, await h2.figures());
      const size = imageBytes(small);
      const seedGets = await cluster.seed!.blobGets({ from: h2, digests: digestsOf(small) });
      console.log(`# B pulled ${mib(size)}: ${d.received} bytes from peers, ${d.seed} from the seed (${seedGets.length} seed blob GETs from B; B kept ${ownedByB} bytes it owns from A's pull)`);
      assert.deepEqual(seedGets, [], 'the seed served B no blob');
      // The seed answers for the tag (a HEAD); the manifest it names comes from a peer.
      const manifestAsks = (await cluster.seed!.requests()).filter((r) => r.remote === h2.address && r.path.includes('/manifests/')).map((r) => r.method);
      assert.deepEqual(manifestAsks, ['HEAD'], 'B asked the seed for the tag only');
      assert.equal(d.seed, 0, "B's seed bytes (status transfers.bytesFromSeed) grew");
      assert.ok(d.received + ownedByB >= size && d.received <= size * 1.05, `B received ${d.received} bytes from peers for a ${size}-byte image`);
      // From A, or from the piece cache of a member that fetched a piece for A as its owner (the
      // least busy holder is asked first); never from the seed.
      const members = new Set(cluster.nodes.map((n) => n.peerId));
      assert.ok([...d.fromPeer.keys()].every((peer) => members.has(peer)), `B's bytes came from members: ${JSON.stringify([...d.fromPeer])}`);
      for (const digest of digestsOf(small)) assert.equal(await h2.storedDigest(digest), digest);
    });
  });

  test('3. four hosts pull a 64 MiB image at the same moment: the seed sends it about once', async () => {
    const nodes = [h1, h2, h3, h4];
    await withLogs(nodes, async () => {
      const before = await Promise.all(nodes.map((n) => n.figures()));
      const started = Date.now();
      const results = await Promise.allSettled(nodes.map((n) => n.pull('big:1')));
      const ms = Date.now() - started;
      const failures = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
      assert.deepEqual(failures, [], 'every pull succeeds');
      const size = imageBytes(big);
      const fromSeed = await cluster.seed!.blobBytesServed({ digests: digestsOf(big) });
      const ratio = fromSeed / size;
      const after = await Promise.all(nodes.map((n) => n.figures()));
      const lines = nodes.map((n, i) => {
        const d = delta(before[i]!, after[i]!);
        const took = results[i]!.status === 'fulfilled' ? `${(results[i] as PromiseFulfilledResult<{ ms: number }>).value.ms} ms` : 'failed';
        return `#   ${n.name}: ${mib(d.seed)} from the seed, ${mib(d.received)} from peers, ${mib(d.served)} served to peers, ${took}`;
      });
      const report = `4 concurrent pulls of ${mib(size)} in ${ms} ms: the seed served ${mib(fromSeed)}, ratio ${ratio.toFixed(3)}\n${lines.join('\n')}`;
      console.log(`# ${report}`);
      assert.ok(ratio <= 1.02, `the seed served ${fromSeed} bytes for a ${size}-byte image: ${report}`);
      for (const n of nodes) for (const digest of digestsOf(big)) assert.equal(await n.storedDigest(digest), digest, `${n.name} stored ${digest}`);
    });
  });

  test('4. the peer serving a blob is killed mid-transfer: the pull completes from the seed', async () => {
    const [a, b] = [h2, h4];
    const layer = killImage.layers[0]!;
    await withLogs([a, b], async () => {
      await a.pull('kill:1');
      // B may keep the pieces it owns from A's pull (it fetched them for A): those need no transfer.
      const ownedByB = await cluster.seed!.blobBytesServed({ from: b, digests: [layer.digest] });
      // A's uploads at 100 Mbit/s: the 40 MiB layer takes B about 3.5 s to get from A alone.
      await a.host.shape({ rateMbit: 100 });
      const before = await b.figures();
      const aPeerId = a.peerId;
      // A has left B's status snapshot once it is killed: its lifetime counter is in /metrics.
      const fromA = async () => (await b.metrics()).value('shoal_peer_bytes_total', { peer: aPeerId, direction: 'received' });
      const fromABefore = await fromA();
      const pull = b.pull('kill:1');
      pull.catch(() => undefined);
      let atKill = 0;
      const deadline = Date.now() + 30_000;
      for (;;) {
        atKill = (await b.figures()).peerReceivedBytes - before.peerReceivedBytes;
        if (atKill >= 8 * MiB) break;
        if (Date.now() > deadline) throw new Error(`B received only ${atKill} bytes from peers in 30 s`);
        await sleep(50);
      }
      await a.crash();
      await pull;
      const d = delta(before, await b.figures());
      const seedBytesToB = (await cluster.seed!.blobBytesServed({ from: b, digests: [layer.digest] })) - ownedByB;
      console.log(`# A killed after B got ${mib(atKill)} from it; B ended with ${mib(d.received)} from peers, ${mib(d.seed)} from the seed (seed log: ${mib(seedBytesToB)} of the layer to B during its pull, ${mib(ownedByB)} before as an owner)`);
      const gotFromA = (await fromA()) - fromABefore;
      assert.ok(gotFromA < layer.size, `A was killed mid-transfer (B got ${gotFromA} bytes from it)`);
      // The rest: from the seed, by B or by the other members as the pieces' owners.
      assert.ok(d.seed + d.received - atKill > 0, 'B fetched the rest from the seed or its owners');
      assert.ok(d.received + d.seed + ownedByB >= layer.size, 'every byte came from somewhere');
      assert.equal(await b.storedDigest(layer.digest), layer.digest);
      // A comes back with its identity and rejoins everyone.
      await a.host.shape({});
      await a.restart();
      assert.equal(a.peerId, aPeerId, 'same peer id after the restart');
      await Promise.all([h1, h2, h3, h4].map((n) => n.waitForPeers(3)));
    });
  });

  test('5. a liar peer serving corrupt bytes is banned; the puller ends with the right bytes', async () => {
    const [liar, puller] = [h3, h4];
    const layer = liarImage.layers[0]!;
    await withLogs([liar, puller], async () => {
      // Pushed to the liar, not pulled through it: a pull would leave the pieces other members
      // fetched as their owners in their piece caches, and the puller would not need the liar.
      // Under a name the seed lacks: a blob HEAD answers 200 for one the seed has in that
      // repository, so a push under `liar` would upload nothing and fetch it through the swarm.
      await liar.push('liarcopy:1', liarImage);
      // Corrupt the liar's stored copy in place (same length): it still announces and serves it.
      const file = await open(liar.blobPath(layer.digest), 'r+');
      const middle = Math.floor(layer.size / 2);
      const bytes = Buffer.alloc(4096);
      await file.read(bytes, 0, bytes.length, middle);
      for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0xff;
      await file.write(bytes, 0, bytes.length, middle);
      await file.close();
      assert.notEqual(await liar.storedDigest(layer.digest), layer.digest, 'the liar holds corrupt bytes');

      const before = await puller.figures();
      let attempts = 0;
      let firstError: string | undefined;
      for (;;) {
        attempts += 1;
        try {
          await puller.pull('liar:1');
          break;
        } catch (error) {
          // The puller streams bytes to its client while they arrive; when the assembled blob
          // fails verification the client's transfer is broken off (never completed with wrong
          // bytes), and the client retries, as docker does. One retry must do.
          firstError ??= (error as Error).message;
          if (attempts >= 2) throw error;
        }
      }
      const d = delta(before, await puller.figures());
      const banned = puller.runLogs().find((l) => l.msg === 'peer sent corrupt bytes: banned, piece replaced with the seed copy' && l.peer === liar.peerId);
      const penalised = puller.runLogs().find((l) => l.msg === 'peer penalised' && l.peer === liar.peerId);
      console.log(`# liar: ${attempts} pull attempt(s)${firstError ? ` (first: ${firstError.split('\n').slice(0, 2).join(' ')})` : ''}; verification failures +${d.failures}; banned: ${banned ? 'yes' : 'no'}; penalised: ${penalised ? String(penalised.reason) : 'no'}`);
      assert.ok(d.failures >= 1, 'transfers.verificationFailures grew');
      assert.ok(banned, "the puller logged 'peer sent corrupt bytes: banned' for the liar");
      assert.ok(penalised, "the puller logged 'peer penalised' for the liar");
      assert.equal(await puller.storedDigest(layer.digest), layer.digest, "the puller's stored blob is correct");
      if (firstError) assert.doesNotMatch(firstError, /Digest did not match|digest mismatch/i, 'the client never got a complete response with wrong bytes');
    });
  });

  test('6. the seed is down: a host that never pulled the tag gets it from the swarm', async () => {
    const [a, b] = [h1, h3];
    await withLogs([a, b], async () => {
      await cluster.seed!.stop();
      try {
        const before = await b.figures();
        // Pieces B fetched from the seed as their owner during A's pull (test 2) stay in its piece
        // cache for minutes (its status lists them in flight): those need no transfer now.
        const cached = before.status.inflight.filter((p) => digestsOf(small).includes(p.digest)).reduce((sum, p) => sum + p.received, 0);
        await b.pull('small:1');
        const d = delta(before, await b.figures());
        const size = imageBytes(small);
        const resolved = b.runLogs().find((l) => l.msg === 'tag resolved from the swarm' && l.repository === 'small');
        console.log(`# seed down: B got small:1 (${mib(size)}) with ${d.received} bytes from peers (${[...d.fromPeer].map(([p, n]) => `${cluster.nodes.find((x) => x.peerId === p)?.name ?? p}: ${n}`).join(', ')}), ${d.seed} from the seed, ${cached} already in its piece cache`);
        assert.ok(resolved, "B logged 'tag resolved from the swarm'");
        assert.equal(d.seed, 0);
        assert.ok(d.received + cached >= size, `B received ${d.received} bytes from peers and had ${cached} in its piece cache`);
        // Holders: A and h2 (they pulled small:1 in test 2) and members keeping pieces of it they
        // fetched for them as owners.
        const members = new Set(cluster.nodes.map((n) => n.peerId));
        for (const peer of d.fromPeer.keys()) assert.ok(members.has(peer) && peer !== b.peerId, `bytes came from a member, not ${peer}`);
        for (const digest of digestsOf(small)) assert.equal(await b.storedDigest(digest), digest);
      } finally {
        await cluster.seed!.start();
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('no upstream anywhere; a cluster key on three of four hosts', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let keyDir: string;
  let keyFile: string;
  let h1: ClusterNode, h2: ClusterNode, h3: ClusterNode, h4: ClusterNode;
  let tiny: TestImage, app: TestImage;

  before(async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'shoal-key-'));
    keyFile = join(keyDir, 'cluster.key');
    keygen(keyFile);
    tiny = await tarImage('hosts-tiny', [64 * 1024]);
    app = await tarImage('hosts-app', [3 * MiB, 1 * MiB]);
    const keyed = ['--cluster-key', keyFile];
    cluster = await startCluster({ hosts: 4, nodeArgs: { h1: keyed, h2: keyed, h3: keyed }, expectedPeers: { h1: 2, h2: 2, h3: 2, h4: 0 } });
    [h1, h2, h3, h4] = cluster.nodes as [ClusterNode, ClusterNode, ClusterNode, ClusterNode];
  });
  after(async () => {
    await cluster?.dispose();
    if (keyDir) await rm(keyDir, { recursive: true, force: true });
  });

  test('7. keyed hosts see each other; the host without the key sees none and gets no answer from their TLS data plane', async () => {
    await withLogs(cluster.nodes, async () => {
      // They find each other (mDNS) and the key turns the connections away: wait for such a
      // refused dial (mDNS answers take longer on a busy machine), then the stranger must still
      // be out, not just late.
      const keyedIds = new Set([h1.peerId, h2.peerId, h3.peerId]);
      const refusedDials = () => [
        ...h4.logs().filter((l) => l.msg === 'swarm: dial failed' && keyedIds.has(String(l.peerId))),
        ...[h1, h2, h3].flatMap((n) => n.logs().filter((l) => l.msg === 'swarm: dial failed' && l.peerId === h4.peerId)),
      ];
      for (const deadline = Date.now() + 30_000; refusedDials().length === 0 && Date.now() < deadline; ) await sleep(250);
      await sleep(2_000);
      const peers = await Promise.all(cluster.nodes.map(async (n) => (await n.figures()).peers));
      console.log(`# peers: ${cluster.nodes.map((n, i) => `${n.name}=${peers[i]}`).join(' ')}`);
      assert.deepEqual(peers, [2, 2, 2, 0]);
      for (const n of [h1, h2, h3]) assert.ok(!n.livePeers().has(h4.peerId), `${n.name} never admitted h4`);
      const refused = refusedDials();
      console.log(`# dials between the stranger and keyed hosts that failed: ${refused.length} (${[...new Set(refused.map((l) => String(l.err)))].join('; ')})`);
      assert.ok(refused.length > 0, 'the stranger and the keyed hosts found each other by mDNS and their dials failed');

      await h1.push('tiny:1', tiny);
      const layer = tiny.layers[0]!;
      // The data plane speaks TLS keyed by the cluster key: whatever the stranger sends (any
      // header it could have seen, over plain HTTP or TLS) gets no HTTP answer at all.
      assert.match(h1.peerUrl, /^https:/);
      const plainUrl = h1.peerUrl.replace(/^https:/, 'http:');
      for (const url of [`${h1.peerUrl}/blobs/${layer.digest}`, `${plainUrl}/blobs/${layer.digest}`, `${h1.peerUrl}/metrics`, `${plainUrl}/metrics`]) {
        const stranger = await h4.curl(url, { range: 'bytes=0-99', authorization: 'Bearer captured-on-the-wire' });
        assert.equal(stranger.status, 0, `the stranger got ${stranger.status} from ${url}: ${stranger.body.slice(0, 200)}`);
      }
      // A key holder's node fetches over that TLS: h2 pulls what h1 holds, from h1.
      const before = await h2.figures();
      await h2.pull('tiny:1');
      const d = delta(before, await h2.figures());
      assert.ok((d.fromPeer.get(h1.peerId) ?? 0) >= layer.size, `h2 got the layer from h1 over TLS: ${JSON.stringify([...d.fromPeer])}`);
      // Nor can the stranger pull what the keyed hosts hold.
      await assert.rejects(h4.pull('tiny:1'), /manifest unknown|MANIFEST_UNKNOWN|not found/i);
    });
  });

  test('8. an image pushed to A is pulled by tag on B: every blob from A', async () => {
    await withLogs([h1, h2], async () => {
      await h1.push('app:1', app);
      const before = await h2.figures();
      await h2.pull('app:1');
      const d = delta(before, await h2.figures());
      const size = imageBytes(app);
      console.log(`# pushed to A, pulled on B: ${d.received} of ${size} blob bytes from peers (from A: ${d.fromPeer.get(h1.peerId) ?? 0}), ${d.seed} from a seed`);
      assert.equal(d.seed, 0);
      assert.ok((d.fromPeer.get(h1.peerId) ?? 0) >= size && d.received <= size * 1.05, `B's blobs came from A: ${JSON.stringify([...d.fromPeer])}`);
      for (const digest of digestsOf(app)) assert.equal(await h2.storedDigest(digest), digest);
    });
  });
});
