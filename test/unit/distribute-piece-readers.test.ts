// A peer reading a piece from this host (as a holder's bytes) is no source for that piece: what it
// has of it came from here. Before, when the one source both were filling a piece from died, each
// could resume it from the other and both waited until a read's idle limit (30-40 s, multi-host
// audit: a node killed mid-preheat held the others at 97%). The bookkeeping is tested here; the
// end-to-end case checks the bytes, not the time (it still stalls now and then: closing note).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { afterEach, describe, test } from 'node:test';
import { PieceReaders } from '../../src/distribute/piece-readers.ts';
import { MemoryNetwork } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, meshed, startHost, type Host } from '../helpers/fake-peer.ts';

const MiB = 1024 * 1024;

describe('distribute: PieceReaders', () => {
  test('a reader counts for every piece its range touches until it closes; two reads of one peer count twice', async () => {
    const readers = new PieceReaders();
    const first = new PassThrough();
    const second = new PassThrough();
    readers.add({ start: 3 * MiB, end: 5 * MiB }, 4 * MiB, 'x', first);
    readers.add({ start: 4 * MiB, end: 4 * MiB + 10 }, 4 * MiB, 'x', second);
    readers.add({ start: 0, end: 10 }, 4 * MiB, 'y', new PassThrough());
    assert.deepEqual([...readers.of(0)].sort(), ['x', 'y']);
    assert.deepEqual([...readers.of(1)], ['x']);
    first.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual([...readers.of(0)], ['y']);
    assert.deepEqual([...readers.of(1)], ['x'], 'the second read of piece 1 is still open');
    second.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual([...readers.of(1)], []);
  });
});

describe('distribute: the source of a relayed piece dies', { timeout: 120_000 }, () => {
  const open: Host[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((h) => h.close()));
  });

  test('the relaying host\'s source goes away mid-piece: both hosts finish with the right bytes', async (t) => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(8 * MiB);
    const digest = seed.add(content);
    // a sends at most 2 MiB/s: b's pieces arrive over seconds, and c chains on them from b.
    const a = await startHost({ network, seed, name: 'a', holds: [content], limits: { uploadBytesPerSecond: 2 * MiB }, fetcher: { pieceSize: 4 * MiB } });
    const b = await startHost({ network, seed, name: 'b', fetcher: { pieceSize: 4 * MiB } });
    const c = await startHost({ network, seed, name: 'c', fetcher: { pieceSize: 4 * MiB } });
    open.push(b, c);
    await meshed([a.swarm, b.swarm, c.swarm]);
    const fetchingB = b.fetch(digest);
    await eventually(() => b.stats.bytesFromPeers > MiB / 2, 20_000, 'b to receive from a');
    const fetchingC = c.fetch(digest);
    await eventually(() => (c.stats.fromPeer.get(b.swarm.peerId) ?? 0) > 0, 20_000, 'c to take bytes from b as they arrive');
    const cut = Date.now();
    await a.close(); // gone: b's pieces from a break off
    const [gotB, gotC] = await Promise.all([fetchingB, fetchingC]);
    const took = Date.now() - cut;
    assert.ok(gotB?.equals(content) && gotC?.equals(content), 'both verified');
    // Not asserted: the time. Before 53c603c, 1 run in 3 took ~30 s (the two waited on each other
    // until a read's idle limit); after it, 12 of 13 finished at once, but one under heavy load
    // still took 30.6 s, so a stall remains that this test cannot pin down (closing note).
    t.diagnostic(`b and c finished ${took} ms after a went away`);
  });
});
