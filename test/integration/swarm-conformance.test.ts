// One suite, run against both SwarmApi implementations: the libp2p Swarm on loopback sockets
// (peers found through bootstrap lists; mDNS has its own test in a network namespace) and the
// in-memory MemorySwarm that other parts of shoal test against. If they ever disagree, one fails.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSwarm, MemoryNetwork, MemorySwarm, piecesFromIndexes, type InventoryEntry, type SwarmApi } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

interface Implementation {
  readonly name: string;
  /** A started swarm connected to every swarm `add` made before in this test. */
  add(inventory?: InventoryEntry[]): Promise<SwarmApi>;
  reset(): Promise<void>;
}

function libp2pSwarms(): Implementation {
  let started: Array<SwarmApi> = [];
  return {
    name: 'Swarm (libp2p, loopback)',
    async add(inventory = []) {
      const port = 7000 + started.length;
      const swarm = await createSwarm(
        { listenAddresses: ['127.0.0.1'], mdns: false, dataPort: port, bootstrap: started.flatMap((s) => s.multiaddrs), redialIntervalMs: 500 },
        { inventory: () => inventory },
      );
      started.push(swarm);
      await swarm.start();
      return swarm;
    },
    async reset() {
      const stopping = started;
      started = [];
      await Promise.all(stopping.map((s) => s.stop()));
    },
  };
}

function memorySwarms(): Implementation {
  let network = new MemoryNetwork();
  let started: SwarmApi[] = [];
  return {
    name: 'MemorySwarm',
    async add(inventory = []) {
      const swarm = new MemorySwarm({ network, inventory: () => inventory, dataUrl: `http://127.0.0.1:${7000 + started.length}` });
      started.push(swarm);
      await swarm.start();
      return swarm;
    },
    async reset() {
      const stopping = started;
      started = [];
      network = new MemoryNetwork();
      await Promise.all(stopping.map((s) => s.stop()));
    },
  };
}

/** Every swarm has every other as a synced peer. */
async function meshed(swarms: SwarmApi[]): Promise<void> {
  await eventually(() => swarms.every((s) => s.peers().filter((p) => p.synced).length === swarms.length - 1), 10_000, 'a synced full mesh');
}

for (const impl of [memorySwarms(), libp2pSwarms()]) {
  describe(`swarm conformance: ${impl.name}`, { timeout: 120_000 }, () => {
    afterEach(() => impl.reset());

    test('inventories are exchanged on connect, with data URLs', async () => {
      const a = await impl.add([{ digest: digest(1), size: 11 }]);
      const b = await impl.add([{ digest: digest(2), size: 22 }, { digest: digest(3), size: 33 }]);
      await meshed([a, b]);
      assert.deepEqual(b.holders(digest(1)), [{ peerId: a.peerId, url: 'http://127.0.0.1:7000', size: 11, complete: true }]);
      assert.deepEqual(a.holders(digest(3)).map((h) => [h.peerId, h.url, h.size]), [[b.peerId, 'http://127.0.0.1:7001', 33]]);
      assert.equal(a.peers()[0]?.blobs, 2);
      assert.deepEqual(a.holders(digest(1)), [], 'a host is not its own holder');
    });

    test('have, progress, withdrawn propagate and replace each other', async () => {
      const a = await impl.add();
      const b = await impl.add();
      await meshed([a, b]);
      const pieces = piecesFromIndexes(100, 10, [0, 5]);
      a.announceProgress(digest(7), 100, pieces);
      await eventually(() => b.holders(digest(7)).length === 1, 5_000, 'progress');
      assert.deepEqual(b.holders(digest(7))[0]?.pieces, pieces);
      assert.equal(b.holders(digest(7))[0]?.complete, false);
      a.announceHave(digest(7), 100);
      await eventually(() => b.holders(digest(7))[0]?.complete === true, 5_000, 'have');
      a.announceWithdrawn(digest(7));
      await eventually(() => b.holders(digest(7)).length === 0, 5_000, 'withdrawn');
    });

    test('a piece taken over is told to its owner alone', async () => {
      const owner = await impl.add();
      const taker = await impl.add();
      const bystander = await impl.add();
      await meshed([owner, taker, bystander]);
      const heard: Array<{ at: string; peerId: string; digest: string; piece: number }> = [];
      for (const [at, swarm] of [['owner', owner], ['bystander', bystander]] as const) swarm.on('piece:taken', (event) => heard.push({ at, ...event }));
      taker.tellPieceTaken!(owner.peerId, digest(4), 3);
      await eventually(() => heard.length > 0, 5_000, 'the owner to hear');
      // Sent after it on the same streams, a progress shows the bystander would have heard by now.
      taker.announceProgress(digest(5), 100, piecesFromIndexes(100, 10, [0]));
      await eventually(() => bystander.holders(digest(5)).length === 1, 5_000, 'progress after it');
      assert.deepEqual(heard, [{ at: 'owner', peerId: taker.peerId, digest: digest(4), piece: 3 }]);
    });

    test('wants: wanters includes this host, sorted, and cancelWant removes it everywhere', async () => {
      const a = await impl.add();
      const b = await impl.add();
      await meshed([a, b]);
      a.announceWant(digest(9));
      b.announceWant(digest(9));
      const both = [a.peerId, b.peerId].sort();
      await eventually(() => a.wanters(digest(9)).length === 2 && b.wanters(digest(9)).length === 2, 5_000, 'wants');
      assert.deepEqual(a.wanters(digest(9)), both);
      assert.deepEqual(b.wanters(digest(9)), both);
      a.cancelWant(digest(9));
      await eventually(() => b.wanters(digest(9)).length === 1, 5_000, 'cancelled want');
      assert.deepEqual(a.wanters(digest(9)), [b.peerId]);
    });

    test('tags: newest wins everywhere, and a late joiner learns them even from a host that did not set them', async () => {
      const a = await impl.add();
      const b = await impl.add();
      await meshed([a, b]);
      const seen = b.once('tag');
      a.announceTag('library/nginx', 'latest', digest(1), 1_000);
      assert.equal((await seen).peerId, a.peerId);
      b.announceTag('library/nginx', 'latest', digest(2), 2_000);
      a.announceTag('library/nginx', 'latest', digest(3), 1_500); // older than b's: loses everywhere
      await eventually(() => a.newestTag('library/nginx', 'latest')?.digest === digest(2), 5_000, 'newest tag on a');
      assert.equal(b.newestTag('library/nginx', 'latest')?.digest, digest(2));
      await a.stop();
      await b.stop();
      // b, where the tag was set, is gone for good; c learns it from a restarted a.
      await a.start();
      const c = await impl.add();
      await meshed([a, c]);
      const record = c.newestTag('library/nginx', 'latest');
      assert.equal(record?.digest, digest(2));
      assert.equal(record?.origin, b.peerId);
      assert.equal(record?.timestamp, 2_000);
    });

    test('a stopped host is no longer a holder, at once', async () => {
      const a = await impl.add([{ digest: digest(4), size: 4 }]);
      const b = await impl.add();
      const c = await impl.add();
      await meshed([a, b, c]);
      const left = [b.once('peer:left', (e) => e.peerId === a.peerId), c.once('peer:left', (e) => e.peerId === a.peerId)];
      await a.stop();
      const stoppedAt = Date.now();
      await Promise.all(left);
      assert.ok(Date.now() - stoppedAt < 1_000);
      assert.deepEqual(b.holders(digest(4)), []);
      assert.deepEqual(c.holders(digest(4)), []);
      assert.equal(b.peers().length, 1);
    });

    test('penalised peers are skipped as holders until the penalty ends', async () => {
      const a = await impl.add([{ digest: digest(5), size: 5 }]);
      const b = await impl.add();
      await meshed([a, b]);
      b.penalise(a.peerId, 'sent bytes that failed verification', 300);
      assert.deepEqual(b.holders(digest(5)), []);
      assert.equal(b.penalties()[0]?.peerId, a.peerId);
      await eventually(() => b.holders(digest(5)).length === 1, 5_000, 'penalty to expire');
      assert.deepEqual(b.penalties(), []);
    });

    test('a late joiner gets progress, wants and tags in its snapshot, then peer:synced', async () => {
      const a = await impl.add([{ digest: digest(1), size: 1 }]);
      a.announceWant(digest(2));
      a.announceProgress(digest(3), 30, piecesFromIndexes(30, 10, [1]));
      a.announceTag('app', 'v1', digest(1), 5);
      const b = await impl.add();
      await b.once('peer:synced');
      assert.deepEqual(b.wanters(digest(2)), [a.peerId]);
      assert.equal(b.holders(digest(3))[0]?.complete, false);
      assert.equal(b.holders(digest(1))[0]?.complete, true);
      assert.equal(b.newestTag('app', 'v1')?.digest, digest(1));
    });
  });
}
