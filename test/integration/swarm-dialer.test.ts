// The dialer and the connection budget on real libp2p nodes over loopback: a peer that refused
// us (full) is not dialled again through peer exchange at once, a known peer is dialled again
// while there is room, and two crossing connections are cut to one, the same one at both ends.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Connection } from '@libp2p/interface';
import { ConnectionBudget, CROSSING_SETTLE_MS } from '../../src/swarm/connection-budget.ts';
import { DIAL_BACKOFF_MS, INTRODUCE_TO, INTRODUCTION_MS, PeerDialer } from '../../src/swarm/dialer.ts';
import { createSwarmNode, type SwarmNode } from '../../src/swarm/node.ts';
import type { PeerAddresses } from '../../src/swarm/protocol.ts';
import { eventually } from '../helpers/eventually.ts';

const running: Array<{ stop(): Promise<void> | void }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function node(maxConnections?: number): Promise<SwarmNode> {
  const n = await createSwarmNode({ privateKey: await generateKeyPair('Ed25519'), listenPort: 0, listenAddresses: ['127.0.0.1'], mdns: false, maxConnections });
  running.push(n);
  await n.start();
  return n;
}

function dialer(n: SwarmNode, clock: { now: number }): PeerDialer {
  const d = new PeerDialer(n, { mayDial: () => true, now: () => clock.now, redialIntervalMs: 60_000 });
  running.push(d);
  d.start();
  return d;
}

const addresses = (n: SwarmNode): PeerAddresses => ({ peerId: n.peerId.toString(), addresses: n.getMultiaddrs().map(String) });
const connected = (a: SwarmNode, b: SwarmNode) => a.getConnections(b.peerId).length > 0;

describe('dialer under a connection cap (loopback)', { timeout: 60_000 }, () => {
  test('a peer that refused our dial (full) is not dialled again through peer exchange until its backoff ends', async () => {
    const clock = { now: 1_000_000 };
    const [a, full, other] = [await node(), await node(1), await node()];
    await other.dial(full.getMultiaddrs()[0]!);
    const d = dialer(a, clock);
    d.dialLearned([addresses(full)]);
    await eventually(() => d.backingOff(full.peerId.toString()), 10_000, 'the refused dial to back off');
    // Room at the full host now; peer exchange names it again at once: no dial yet.
    await other.hangUp(full.peerId);
    d.dialLearned([addresses(full)]);
    assert.equal(d.dialingNeighbour(full.peerId.toString()), false, 'dialled a peer that refused us a moment ago');
    clock.now += DIAL_BACKOFF_MS + 1;
    d.dialLearned([addresses(full)]);
    await eventually(() => connected(a, full), 10_000, 'the dial after the backoff');
  });

  test('a peer that let our connection go at once is backed off too', async () => {
    const clock = { now: 1_000_000 };
    const [a, b] = [await node(), await node()];
    b.addEventListener('connection:open', ({ detail }) => void detail.close());
    const d = dialer(a, clock);
    d.dialLearned([addresses(b)]);
    await eventually(() => d.backingOff(b.peerId.toString()), 10_000, 'the dropped connection to back off');
  });

  test('a known peer we are not connected to is dialled again (top-up), not only when some peer names it', async () => {
    const clock = { now: 1_000_000 };
    const [a, b] = [await node(), await node()];
    await a.dial(b.getMultiaddrs()[0]!);
    await a.hangUp(b.peerId);
    await eventually(() => !connected(a, b), 5_000, 'the hang-up');
    const d = dialer(a, clock);
    await d.topUp();
    await eventually(() => connected(a, b), 10_000, 'the top-up dial');
  });

  test(`a new peer is introduced to ${INTRODUCE_TO} random peers, not to every connection, and once per introducer a while`, async () => {
    const clock = { now: 1_000_000 };
    const d = dialer(await node(), clock);
    const peers = Array.from({ length: 40 }, (_, i) => `peer-${i}`);
    const told = d.introduce('newcomer', [...peers, 'newcomer']);
    assert.equal(told.length, INTRODUCE_TO);
    assert.equal(new Set(told).size, INTRODUCE_TO);
    assert.ok(told.every((id) => peers.includes(id)), 'told the newcomer about itself');
    assert.deepEqual(d.introduce('newcomer', peers), [], 'introduced again at its next connection');
    clock.now += INTRODUCTION_MS + 1;
    assert.equal(d.introduce('newcomer', peers).length, INTRODUCE_TO);
    assert.deepEqual(d.introduce('other', ['a', 'b']).sort(), ['a', 'b']);
  });

  test('under a cap, in a swarm past its neighbour limit, a host tops up on its own only while it has under half that limit', () => {
    // A plain list is all the budget reads of its connections here: the peer each one goes to.
    const open: Connection[] = [];
    const budget = new ConnectionBudget({ selfId: 'self', cap: 64, reserve: 24, open: () => open });
    for (let i = 0; i < 127; i++) budget.sighted(`peer-${i}`);
    const connect = (n: number) => {
      for (let i = open.length; i < n; i++) open.push({ remotePeer: { toString: () => `peer-${i}` } } as unknown as Connection);
    };
    connect(19);
    assert.equal(budget.roomForTopUp(0, 127), true);
    connect(20);
    assert.equal(budget.roomForTopUp(0, 127), false, 'a host with half its 40 neighbours knocks on other doors');
    assert.equal(budget.roomForNeighbour(0), true, 'named peers still fill the rest');
    assert.equal(budget.roomForTopUp(0, 31), true, 'a swarm that fits under the limit is meant to be a full mesh');
    assert.equal(new ConnectionBudget({ selfId: 'self', cap: undefined, reserve: 0, open: () => open }).roomForTopUp(0, 127), true);
  });

  test('of two crossing connections both ends close the one the higher peer id dialled', async () => {
    const [a, b] = [await node(), await node()];
    await a.dial(b.getMultiaddrs()[0]!);
    await b.dial(a.getMultiaddrs()[0]!, { force: true });
    await eventually(() => a.getConnections(b.peerId).length === 2 && b.getConnections(a.peerId).length === 2, 10_000, 'two connections each way');
    // A cap whose neighbour limit (cap less reserve) the two connections exceed.
    const budget = (n: SwarmNode) => new ConnectionBudget({ selfId: n.peerId.toString(), cap: 2, reserve: 1, open: () => n.getConnections() });
    assert.deepEqual(new ConnectionBudget({ selfId: a.peerId.toString(), cap: 64, reserve: 8, open: () => a.getConnections() }).crossing(), [], 'closed crossing connections far from the cap');
    await new Promise((resolve) => setTimeout(resolve, CROSSING_SETTLE_MS + 100));
    const [closeAtA, closeAtB] = [budget(a).crossing(), budget(b).crossing()];
    assert.equal(closeAtA.length, 1);
    assert.equal(closeAtB.length, 1);
    const higher = a.peerId.toString() > b.peerId.toString() ? a : b;
    const dialledBy = (c: Connection, at: SwarmNode) => (c.direction === 'outbound' ? at : at === a ? b : a);
    assert.equal(dialledBy(closeAtA[0]!, a), higher, 'A closes the connection the higher id dialled');
    assert.equal(dialledBy(closeAtB[0]!, b), higher, 'B closes the same connection');
    await Promise.all([...closeAtA, ...closeAtB].map((c) => c.close()));
    await eventually(() => a.getConnections(b.peerId).length === 1 && b.getConnections(a.peerId).length === 1, 10_000, 'one connection left at both ends');
  });
});
