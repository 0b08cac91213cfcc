// A peer reading a piece from this host (as a holder's bytes) is no source for that piece: what it
// has of it came from here. Before, when the one source both were filling a piece from died, each
// could resume it from the other and both waited until a read's idle limit (30-40 s, multi-host
// audit: a node killed mid-preheat held the others at 97%). The bookkeeping is tested here, with
// the reads let go when this host's source breaks off and the refusals of a peer this host reads
// the piece from; the end-to-end case checks the bytes, not the time (a timing bound would flake
// on a busy machine; test/integration/holder-vanishes.test.ts bounds a whole swarm's stall).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { afterEach, describe, test } from 'node:test';
import { PieceReaders } from '../../src/distribute/piece-readers.ts';
import { MemoryNetwork } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, meshed, REPOSITORY, startHost, type Host } from '../helpers/fake-peer.ts';

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

  test('failAll ends the reads of the pieces whose source broke off, with the error, and only those', async () => {
    const readers = new PieceReaders();
    const spanning = new PassThrough();
    const other = new PassThrough();
    readers.add({ start: 3 * MiB, end: 5 * MiB }, 4 * MiB, 'x', spanning);
    readers.add({ start: 8 * MiB, end: 9 * MiB }, 4 * MiB, 'y', other);
    const ended = new Promise<Error>((resolve) => spanning.once('error', resolve));
    const broke = new Error('source broke off');
    readers.failAll([1], broke);
    assert.equal(await ended, broke);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual([...readers.of(0)], [], 'a read is gone from every piece it touched');
    assert.deepEqual([...readers.of(2)], ['y']);
    assert.equal(other.destroyed, false);
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

describe('distribute: a peer this host gets a piece from reads or asks for that piece', { timeout: 120_000 }, () => {
  const open: Host[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((h) => h.close()));
  });

  /** b fetches an 8 MiB blob from a, which sends 1 MiB/s: b's piece 0 comes from a for seconds. */
  async function fetchingFromA() {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(8 * MiB);
    const digest = seed.add(content);
    const a = await startHost({ network, seed, name: 'a', holds: [content], limits: { uploadBytesPerSecond: MiB }, fetcher: { pieceSize: 4 * MiB } });
    const b = await startHost({ network, seed, name: 'b', fetcher: { pieceSize: 4 * MiB } });
    open.push(a, b);
    await meshed([a.swarm, b.swarm]);
    const fetching = b.fetch(digest);
    await eventually(() => (b.stats.fromPeer.get(a.swarm.peerId) ?? 0) > 0, 20_000, 'b to take bytes from a');
    return { seed, content, digest, a, b, fetching };
  }

  test('a read of it as a holder\'s is refused at once: it would wait on itself', async () => {
    const { content, digest, a, b, fetching } = await fetchingFromA();
    const response = await fetch(`${b.url}/blobs/${digest.value}?from=${a.swarm.peerId}`, { headers: { range: 'bytes=0-1023' } });
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'BLOB_UNKNOWN');
    const other = await fetch(`${b.url}/blobs/${digest.value}?from=someone-else`, { headers: { range: 'bytes=0-1023' } });
    assert.equal(other.status, 206, 'another peer waits for the piece as it arrives');
    assert.ok(Buffer.from(await other.arrayBuffer()).equals(content.subarray(0, 1024)));
    assert.ok((await fetching)?.equals(content));
  });

  test('an ask for it as its owner stops the transfer from the asker, and the piece comes from the seed', async () => {
    const { seed, content, digest, a, b, fetching } = await fetchingFromA();
    const query = new URLSearchParams({ repository: REPOSITORY, size: String(content.length), from: a.swarm.peerId });
    const asked = await fetch(`${b.url}/blobs/${digest.value}?${query.toString()}`, { headers: { range: `bytes=0-${4 * MiB - 1}` } });
    assert.equal(asked.status, 206);
    assert.ok(Buffer.from(await asked.arrayBuffer()).equals(content.subarray(0, 4 * MiB)), 'the asker gets the piece');
    assert.ok((seed.served.get('b') ?? 0) > 0, 'b read the piece from the seed, not from the asker it waits on');
    assert.ok((await fetching)?.equals(content));
  });
});

