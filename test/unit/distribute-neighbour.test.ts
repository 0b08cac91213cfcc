// A good neighbour, in one process on real loopback sockets (hosts as in
// distribute-piece-engine.test.ts): busy answers that send askers elsewhere without penalty or
// seed, holders' load in the swarm's messages, the upload cap on the peer port, and Range reads of
// a missing blob that fetch only the pieces covering the range.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { request } from 'undici';
import { choosePieceSource, type PieceView } from '../../src/distribute/piece-choice.ts';
import { BlobService } from '../../src/distribute/blob-service.ts';
import { BURST_SECONDS, MIN_BURST_BYTES } from '../../src/distribute/rate-limit.ts';
import { MAX_SERVES_PER_PIECE } from '../../src/distribute/serve-slots.ts';
import { BUSY_GIVE_UP_MS } from '../../src/distribute/piece-limits.ts';
import { rangeFillStart } from '../../src/distribute/range-first.ts';
import { WRITE_BATCH_BYTES } from '../../src/distribute/piece-run.ts';
import { MemoryNetwork, type Holder } from '../../src/swarm/index.ts';
import { parseMessage, toWire } from '../../src/swarm/protocol.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, meshed, REPOSITORY, startFakePeer, startHost, type FakePeer, type Host, type HostInit } from '../helpers/fake-peer.ts';

const MiB = 1024 * 1024;

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('distribute: a good neighbour', { timeout: 120_000 }, () => {
  const open: Array<Host | FakePeer> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((x) => x.close()));
  });
  async function host(init: Omit<HostInit, 'network' | 'seed'> & { network: MemoryNetwork; seed: CountingSeed }): Promise<Host> {
    const started = await startHost(init);
    open.push(started);
    return started;
  }

  test('a holder that answers busy is asked again: no penalty, and the seed sends nothing', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(3 * MiB + 7);
    const digest = seed.add(content);
    const busy = await startFakePeer(network, content, { kind: 'busy', times: 4 });
    open.push(busy);
    const b = await host({ network, seed, name: 'b', fetcher: { pieceSize: MiB } });
    await meshed([busy.swarm, b.swarm]);

    const got = await b.fetch(digest);
    assert.ok(got?.equals(content));
    assert.equal(seed.served.get('b') ?? 0, 0, 'a busy holder is no reason to go to the seed');
    assert.ok(busy.requests() > 4, 'the busy holder was asked again');
    assert.deepEqual(b.swarm.penalties(), [], 'a busy answer is not a failure');
  });

  test('a holder that answers nothing but busy for BUSY_GIVE_UP_MS is penalised, and the pull completes from the seed', { timeout: 120_000 }, async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(2 * MiB);
    const digest = seed.add(content);
    // It announces the blob and answers every ask 503: before, the other host waited for it for good.
    const liar = await startFakePeer(network, content, { kind: 'busy', times: Number.MAX_SAFE_INTEGER }, { pieceSize: MiB });
    open.push(liar);
    const b = await host({ network, seed, name: 'b', fetcher: { pieceSize: MiB } });
    await meshed([liar.swarm, b.swarm]);

    const started = Date.now();
    const got = await b.fetch(digest);
    assert.ok(got?.equals(content), 'verified');
    assert.ok(Date.now() - started >= BUSY_GIVE_UP_MS, 'not before the holder has answered busy for that long');
    assert.deepEqual(b.swarm.penalties().map((p) => p.peerId), [liar.swarm.peerId], 'the holder is penalised');
    assert.equal(seed.served.get('b'), content.length, 'and the seed sent the blob once');
  });

  test('a holder answering only busy while the pull goes on from another holder is not penalised', { timeout: 180_000 }, async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(8 * MiB);
    const digest = seed.add(content);
    // Its upload cap makes the pull last past BUSY_GIVE_UP_MS whatever the machine's speed: ~43 s.
    const uploadBytesPerSecond = 192 * 1024;
    const honest = await host({ network, seed, name: 'a', holds: [content], limits: { uploadBytesPerSecond } });
    const busy = await startFakePeer(network, content, { kind: 'busy', times: Number.MAX_SAFE_INTEGER }, { pieceSize: MiB });
    open.push(busy);
    // One transfer per peer: the pieces waiting for the honest holder are asked of the busy one all along.
    const b = await host({ network, seed, name: 'b', fetcher: { pieceSize: MiB, maxPerPeer: 1 } });
    await meshed([honest.swarm, busy.swarm, b.swarm]);

    const started = Date.now();
    let askedPastGiveUp = false;
    const watch = setInterval(() => (askedPastGiveUp ||= Date.now() - started > BUSY_GIVE_UP_MS + 1_000 && busy.requests() > 0), 100);
    const asksBefore = { at: 0, count: 0 };
    const sample = setTimeout(() => Object.assign(asksBefore, { at: Date.now() - started, count: busy.requests() }), BUSY_GIVE_UP_MS + 1_000);
    try {
      const got = await b.fetch(digest);
      assert.ok(got?.equals(content), 'verified');
    } finally {
      clearInterval(watch);
      clearTimeout(sample);
    }
    const took = Date.now() - started;
    assert.ok(took > BUSY_GIVE_UP_MS + 3_000, `the pull lasted past the give-up (${took} ms): the cap bounds it from below`);
    assert.ok(askedPastGiveUp && busy.requests() > asksBefore.count, `the busy holder was still asked after ${BUSY_GIVE_UP_MS} ms (${asksBefore.count} asks by ${asksBefore.at} ms, ${busy.requests()} in all)`);
    assert.deepEqual(b.swarm.penalties(), [], 'bytes kept coming from the honest holder: the busy one is not penalised');
    assert.equal(seed.served.get('b') ?? 0, 0, 'nor was the seed asked');
  });

  test('a host serves at most max-peer-serves piece requests at once; the next gets 503 with Retry-After at once', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(4 * MiB);
    const digest = seed.add(content);
    // Capped, so the two requests it serves are still running when the third arrives.
    const a = await host({ network, seed, name: 'a', holds: [content], maxPeerServes: 2, limits: { uploadBytesPerSecond: 512 * 1024 } });
    const get = (piece = 0) => request(`${a.url}/blobs/${digest.value}`, { headers: { range: `bytes=${piece * MiB}-${piece * MiB + MiB - 1}` } });
    const first = await get(0);
    const second = await get(1);
    await eventually(() => a.slots.inUse === 2, 2_000, 'two requests being served');
    const third = await get(2);
    assert.equal(third.statusCode, 503);
    assert.equal(third.headers['retry-after'], '1');
    await third.body.dump();
    assert.equal(first.statusCode, 206);
    assert.ok((await readAll(first.body)).equals(content.subarray(0, MiB)));
    await second.body.dump();
    await eventually(() => a.slots.inUse === 0, 2_000, 'slots released when the responses close');
    const fourth = await get(2);
    assert.equal(fourth.statusCode, 206, 'served again once a slot is free');
    await fourth.body.dump();
  });

  test(`one piece is served to at most ${MAX_SERVES_PER_PIECE} askers at once: the next is told busy and takes it from them later`, async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(2 * MiB);
    const digest = seed.add(content);
    const a = await host({ network, seed, name: 'a', holds: [content], limits: { uploadBytesPerSecond: 512 * 1024 } });
    const get = (start: number) => request(`${a.url}/blobs/${digest.value}`, { headers: { range: `bytes=${start}-${start + MiB - 1}` } });
    const serving = await Promise.all(Array.from({ length: MAX_SERVES_PER_PIECE }, () => get(0)));
    await eventually(() => a.slots.inUse === MAX_SERVES_PER_PIECE, 2_000, 'the piece being served');
    const busy = await get(0);
    assert.equal(busy.statusCode, 503, 'the same piece once more: busy');
    await busy.body.dump();
    const other = await get(MiB);
    assert.equal(other.statusCode, 206, 'another piece is served');
    await Promise.all([other, ...serving].map((r) => r.body.dump()));
  });

  test('the upload cap holds on the peer port (bytes moved no faster than the cap)', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(3 * MiB);
    const digest = seed.add(content);
    const cap = 2 * MiB;
    const a = await host({ network, seed, name: 'a', holds: [content], limits: { uploadBytesPerSecond: cap } });
    const started = performance.now();
    const response = await request(`${a.url}/blobs/${digest.value}`, { headers: { range: `bytes=0-${content.length - 1}` } });
    assert.ok((await readAll(response.body)).equals(content));
    const seconds = (performance.now() - started) / 1000;
    // A cap is an upper bound: a busy machine only makes it slower. Less the burst it lets through at once.
    assert.ok(seconds >= (content.length - Math.max(MIN_BURST_BYTES, cap * BURST_SECONDS)) / cap, `3 MiB at a 2 MiB/s cap took ${seconds.toFixed(2)} s`);
    assert.ok(a.fetcher.limits.snapshot().upload.rate > 0, 'the rate now is measured');
  });

  test('holders tell their load in the swarm messages; the busiest holder is picked last', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(MiB);
    const digest = seed.add(content);
    const a = await host({ network, seed, name: 'a', holds: [content] });
    const b = await host({ network, seed, name: 'b' });
    await meshed([a.swarm, b.swarm]);
    a.swarm.reportLoad(7);
    await eventually(() => b.swarm.holders(digest.value)[0]?.load === 7, 2_000, 'b to hear a\'s load');
    a.swarm.reportLoad(0);
    await eventually(() => b.swarm.holders(digest.value)[0]?.load === undefined, 2_000, 'b to hear a is idle again');

    const holder = (peerId: string, load?: number): Holder => ({ peerId, url: `http://${peerId}`, size: 100, complete: true, ...(load !== undefined ? { load } : {}) });
    const view = (holders: Holder[], ours: Record<string, number> = {}): PieceView => ({
      digest: digest.value, index: 0, size: 100, pieceSize: 100, selfId: 'me', holders, members: new Map([['me', { peerId: 'me', url: undefined }]]),
      failed: new Set(), exclude: new Set(), demanded: false, seedUsable: true, busyWith: (p) => ours[p] ?? 0, maxPerPeer: 2, seedSlotFree: true, membershipSettled: true, balanceOwners: true,
    });
    assert.deepEqual(choosePieceSource(view([holder('x', 12), holder('y', 3), holder('z', 9)])), { kind: 'holder', peerId: 'y', url: 'http://y', complete: true, pieceDone: true });
    // Our own transfers from a holder add to what it reported.
    assert.deepEqual(choosePieceSource(view([holder('x', 1), holder('y', 1)], { y: 1 })), { kind: 'holder', peerId: 'x', url: 'http://x', complete: true, pieceDone: true });
    // A holder known to be busy (busyWith is infinite) is waited for, never skipped for the seed.
    assert.deepEqual(choosePieceSource(view([holder('x')], { x: Number.POSITIVE_INFINITY })), { kind: 'wait' });
  });

  test('load on the wire: optional, a non-negative integer, absent from older hosts', () => {
    const base = { type: 'ping', time: 1 };
    assert.deepEqual(parseMessage(Buffer.from(JSON.stringify(base))), { type: 'ping', time: 1 });
    assert.deepEqual(parseMessage(toWire({ type: 'ping', time: 1, load: 5 })), { type: 'ping', time: 1, load: 5 });
    for (const load of [-1, 1.5, '3', 1e9]) assert.throws(() => parseMessage(Buffer.from(JSON.stringify({ ...base, load }))), /load/);
  });

  test('range-only: a Range read of a missing blob fetches just the covering pieces, from the seed on a lone host', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(32 * MiB);
    const digest = seed.add(content);
    const a = await host({ network, seed, name: 'a', fetcher: { pieceSize: MiB, rangeFetch: 'range-only' } });
    const blobs = new BlobService(a.store, a.fetcher);
    let touched = 0;
    for (const start of [20 * MiB + 700_000, 3 * MiB - 10, 31 * MiB + 100_000, 7 * MiB + 5]) {
      const range = { start, end: start + 999 };
      const asked = seed.log.length;
      const opened = await blobs.open({ name: REPOSITORY, digest }, () => range, true);
      assert.ok(opened && opened.origin !== 'local');
      assert.deepEqual(opened.range, range);
      assert.ok((await readAll(opened.stream)).equals(content.subarray(range.start, range.end + 1)));
      touched += Math.floor(range.end / MiB) - Math.floor(range.start / MiB) + 1;
      // The piece is read from the range on (its bytes first), then its head.
      const pieceStart = Math.floor(start / MiB) * MiB;
      const from = rangeFillStart(start);
      await eventually(async () => seed.log.length > asked + (from > pieceStart ? 1 : 0), 10_000, 'the head of the piece to be asked for');
      const after = seed.log.slice(asked).map(({ start, end }) => ({ start, end }));
      assert.equal(after[0]?.start, from, `bytes=${range.start}-${range.end}: the seed is asked from byte ${from} first`);
      if (from > pieceStart) assert.deepEqual(after[1], { start: pieceStart, end: from - 1 }, 'then for the head of the piece');
    }
    assert.ok((seed.served.get('a') ?? 0) <= touched * MiB, `the seed sent ${seed.served.get('a')} bytes for ${touched} pieces`);
    assert.equal(await a.store.blobs.stat(digest), undefined, 'range-only stores no blob');
  });

  test('a range\'s first bytes are written as they arrive, not after half a MiB of the piece is gathered', async () => {
    // A slow seed: 64 KiB every 150 ms. Judged by how much the seed had sent when the reader got
    // its first byte (an order of events, not a speed).
    const network = new MemoryNetwork();
    const seed = new CountingSeed({ chunkDelayMs: 150 });
    const content = randomBytes(4 * MiB);
    const digest = seed.add(content);
    const a = await host({ network, seed, name: 'a', fetcher: { pieceSize: 2 * MiB, rangeFetch: 'range-only' } });
    const range = { start: 2 * MiB + 300_000, end: 2 * MiB + 300_999 };
    const opened = await new BlobService(a.store, a.fetcher).open({ name: REPOSITORY, digest }, () => range, true);
    assert.ok(opened && opened.origin !== 'local');
    let sentAtFirstByte = -1;
    opened.stream.once('data', () => (sentAtFirstByte = seed.served.get('a') ?? 0));
    assert.ok((await readAll(opened.stream)).equals(content.subarray(range.start, range.end + 1)));
    assert.ok(sentAtFirstByte >= 0 && sentAtFirstByte < WRITE_BATCH_BYTES, `the seed had sent ${sentAtFirstByte} bytes when the range's first byte went out`);
  });

  test('a holder that dies inside a range-first piece: the piece resumes from the seed where its fill stopped, then its head', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(4 * MiB);
    const digest = seed.add(content);
    const dying = await startFakePeer(network, content, { kind: 'die', afterBytes: 300_000 });
    open.push(dying);
    const b = await host({ network, seed, name: 'b', fetcher: { pieceSize: MiB, rangeFetch: 'range-only' } });
    await meshed([dying.swarm, b.swarm]);
    const range = { start: 2 * MiB + 500_000, end: 2 * MiB + 500_999 };
    const from = rangeFillStart(range.start);
    const opened = await new BlobService(b.store, b.fetcher).open({ name: REPOSITORY, digest }, () => range, true);
    assert.ok(opened && opened.origin !== 'local');
    assert.ok((await readAll(opened.stream)).equals(content.subarray(range.start, range.end + 1)));
    await eventually(() => seed.log.length >= 2, 20_000, 'the rest of the piece from the seed');
    const [resumed, head] = seed.log;
    assert.ok(resumed!.start > from && resumed!.start <= from + 300_000, `resumed at ${resumed!.start}, where the holder's bytes stopped (it began at ${from})`);
    assert.equal(resumed!.end, 3 * MiB - 1);
    assert.deepEqual({ start: head!.start, end: head!.end }, { start: 2 * MiB, end: from - 1 }, 'then the head');
    assert.ok(seed.total() <= MiB - (resumed!.start - from), 'the seed sent no byte the holder had sent');
  });

  test('fetch-all: the covering pieces first, then the rest of the blob, verified and stored', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(16 * MiB);
    const digest = seed.add(content);
    const a = await host({ network, seed, name: 'a', fetcher: { pieceSize: MiB } });
    const blobs = new BlobService(a.store, a.fetcher);
    const range = { start: 9 * MiB + 3, end: 9 * MiB + 2002 };
    const opened = await blobs.open({ name: REPOSITORY, digest }, () => range, true);
    assert.ok(opened && opened.origin !== 'local');
    assert.ok((await readAll(opened.stream)).equals(content.subarray(range.start, range.end + 1)));
    assert.equal(seed.log[0]?.start, 9 * MiB, 'the seed was asked for the covering piece first');
    await eventually(async () => (await a.store.blobs.stat(digest)) === content.length, 20_000, 'the rest to follow and the blob to be stored');
    assert.ok((await a.store.blobs.read(digest))?.equals(content));
  });

  test('range reads across hosts: the covering pieces come from their owners, the seed sends each once', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(24 * MiB);
    const digest = seed.add(content);
    const fetcher = { pieceSize: MiB, rangeFetch: 'range-only' as const };
    const hosts = [await host({ network, seed, name: 'a', fetcher }), await host({ network, seed, name: 'b', fetcher }), await host({ network, seed, name: 'c', fetcher })];
    await meshed(hosts.map((h) => h.swarm));
    const touched = new Set<number>();
    for (let i = 0; i < 9; i++) {
      const reader = hosts[i % 3]!;
      const start = Math.floor(Math.random() * (content.length - 5000));
      const range = { start, end: start + 4095 };
      const fresh = !touched.has(Math.floor(start / MiB));
      for (let p = Math.floor(range.start / MiB); p <= Math.floor(range.end / MiB); p++) touched.add(p);
      const asked = seed.log.length;
      const opened = await new BlobService(reader.store, reader.fetcher).open({ name: REPOSITORY, digest }, () => range, true);
      assert.ok(opened && opened.origin !== 'local');
      assert.ok((await readAll(opened.stream)).equals(content.subarray(range.start, range.end + 1)));
      // Whichever host owns the piece asked the seed for it from the range on (the asker asked the owner so).
      // (The head of an earlier range's piece may be asked for meanwhile.)
      const piece = Math.floor(start / MiB);
      const first = seed.log.slice(asked).find((asked) => Math.floor(asked.start / MiB) === piece);
      if (fresh) assert.equal(first?.start, rangeFillStart(start), `bytes=${range.start}-${range.end}: the piece's owner asked the seed from the range`);
    }
    const fromSeed = [...seed.served.values()].reduce((s, n) => s + n, 0);
    assert.ok(fromSeed <= touched.size * MiB, `the seed sent ${fromSeed} bytes for ${touched.size} pieces touched`);
  });
});
