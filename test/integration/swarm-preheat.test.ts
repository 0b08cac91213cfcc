// The preheat protocol on real libp2p nodes over loopback: progress flows back to the asker,
// a peer that is not a member (never said hello on the announce protocol) or holds no cluster key
// is refused, a bad request is answered with its fault, and a worker that leaves mid-preheat
// fails the ask at once instead of leaving it hanging. The worker's runner is a small function
// here: what a node pulls is tested with real daemons in preheat.test.ts.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { multiaddr } from '@multiformats/multiaddr';
import { createSwarm, generateClusterKey, parseClusterKey, PreheatProtocol, type ClusterKey, type ImageProgress, type PreheatRunner, type Swarm, type SwarmInit } from '../../src/swarm/index.ts';
import { createSwarmNode, type SwarmNode } from '../../src/swarm/node.ts';
import { eventually } from '../helpers/eventually.ts';

const running: Array<{ stop(): Promise<void> | void }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).reverse().map((s) => s.stop()));
});

/** A swarm with the preheat protocol on it, members being the peers it knows (as the daemon wires it). */
async function member(runner: PreheatRunner, init: Partial<SwarmInit> = {}): Promise<{ swarm: Swarm; protocol: PreheatProtocol }> {
  const swarm = await createSwarm({ listenAddresses: ['127.0.0.1'], mdns: false, dataPort: 5001, redialIntervalMs: 200, ...init }, { inventory: () => [] });
  running.push(swarm);
  await swarm.start();
  const protocol = new PreheatProtocol({ runner, mayAsk: (peerId) => swarm.peers().some((p) => p.peerId === peerId) });
  running.push(protocol);
  await protocol.start(swarm.node!);
  return { swarm, protocol };
}

/** A libp2p node that speaks only the preheat protocol: no hello, so no member of anyone's swarm. */
async function stranger(clusterKey?: ClusterKey): Promise<{ node: SwarmNode; protocol: PreheatProtocol }> {
  const node = await createSwarmNode({ privateKey: await generateKeyPair('Ed25519'), listenPort: 0, listenAddresses: ['127.0.0.1'], mdns: false, clusterKey });
  running.push(node);
  await node.start();
  const protocol = new PreheatProtocol({ runner: async () => [], mayAsk: () => true });
  await protocol.start(node);
  return { node, protocol };
}

const progress = (done: number, state: ImageProgress['state'] = 'fetching'): ImageProgress[] => [{ image: 'app:1', state, done, total: 100, blobs: 2 }];
const request = { images: [{ name: 'app', reference: '1' }] };

describe('the preheat protocol on libp2p (loopback)', { timeout: 60_000 }, () => {
  test('a member asks another: the reports arrive, then the final progress', async () => {
    const asked: Array<{ asker: string; images: number }> = [];
    const worker = await member(async (req, report, _signal, asker) => {
      asked.push({ asker, images: req.images.length });
      report(progress(40));
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      return progress(100, 'done');
    });
    const asker = await member(async () => [], { bootstrap: [worker.swarm.multiaddrs[0]!] });
    await eventually(() => worker.swarm.peers().length === 1 && asker.swarm.peers().length === 1, 10_000, 'the two to meet');
    const reports: number[] = [];
    const final = await asker.protocol.ask(worker.swarm.peerId, request, (images) => reports.push(images[0]!.done));
    assert.deepEqual(final, progress(100, 'done'));
    assert.ok(reports.includes(40), `a report while it ran: ${JSON.stringify(reports)}`);
    assert.deepEqual(asked, [{ asker: asker.swarm.peerId, images: 1 }]);
  });

  test('a bad request is refused with its fault; nothing runs', async () => {
    let runs = 0;
    const worker = await member(async () => {
      runs += 1;
      return [];
    });
    const asker = await member(async () => [], { bootstrap: [worker.swarm.multiaddrs[0]!] });
    await eventually(() => worker.swarm.peers().length === 1, 10_000, 'the asker to be a member');
    await assert.rejects(asker.protocol.ask(worker.swarm.peerId, { images: [{ name: 'Bad', reference: '1' }] }, () => {}), /refused: "Bad" is not a valid repository name/);
    await assert.rejects(asker.protocol.ask(worker.swarm.peerId, { images: [] }, () => {}), /refused: a preheat takes 1 to 64 images/);
    assert.equal(runs, 0);
  });

  test('a node that is no member is refused; without the cluster key it cannot even connect', async () => {
    let runs = 0;
    const runner: PreheatRunner = async () => {
      runs += 1;
      return [];
    };
    const open = await member(runner);
    const outsider = await stranger();
    await outsider.node.dial(multiaddr(open.swarm.multiaddrs[0]!));
    await assert.rejects(outsider.protocol.ask(open.swarm.peerId, request, () => {}), /refused: not a member of this swarm/);

    const key = parseClusterKey(generateClusterKey());
    const keyed = await member(runner, { clusterKey: key });
    const keyless = await stranger();
    await assert.rejects(keyless.node.dial(multiaddr(keyed.swarm.multiaddrs[0]!), { signal: AbortSignal.timeout(5_000) }));
    await assert.rejects(keyless.protocol.ask(keyed.swarm.peerId, request, () => {}));
    assert.equal(runs, 0, 'no preheat ran');
  });

  test('a worker that leaves mid-preheat fails the ask at once, not after the silence limit', async () => {
    let started!: () => void;
    const began = new Promise<void>((resolve) => (started = resolve));
    const worker = await member(async (_req, report, signal) => {
      report(progress(10));
      started();
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      return progress(10, 'failed');
    });
    const asker = await member(async () => [], { bootstrap: [worker.swarm.multiaddrs[0]!] });
    await eventually(() => worker.swarm.peers().length === 1 && asker.swarm.peers().length === 1, 10_000, 'the two to meet');
    const asking = asker.protocol.ask(worker.swarm.peerId, request, () => {}, { silenceMs: 50_000 });
    await began;
    await worker.swarm.stop();
    await assert.rejects(asking, (error: Error) => {
      assert.doesNotMatch(error.message, /no report for/, 'the connection closing failed it, not the silence timer');
      return true;
    });
  });
});
