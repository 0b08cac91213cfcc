// A peer transfer that crawls while another peer, free now, holds the piece complete is moved
// there (crawling-transfer.ts); one with nowhere better to go runs on, and the seed is never asked
// because of a slow peer.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { CrawlWatch, slowAlone, HostCrawls } from '../../src/distribute/crawling-transfer.ts';
import { PieceFailures } from '../../src/distribute/piece-failures.ts';
import type { PieceSourcing } from '../../src/distribute/piece-sourcing.ts';
import { BEST_PACE_MS, CRAWL_REST_MS, CRAWL_SLOWER_THAN_BEST, CRAWL_WINDOW_MS, STALL_SLOWER_THAN_SEED, STALL_WINDOW_MS, TransferPaces } from '../../src/distribute/transfer-paces.ts';
import type { PieceSource } from '../../src/distribute/piece-source.ts';
import { PieceTransfers, type Transfer } from '../../src/distribute/piece-transfers.ts';
import { MIN_HOLDER_BYTES_PER_SECOND } from '../../src/distribute/slow-source.ts';
import { digestOf } from '../../src/oci/index.ts';
import { MemoryNetwork } from '../../src/swarm/index.ts';
import { CountingSeed, meshed, startFakePeer, startHost, type FakePeer, type Host } from '../helpers/fake-peer.ts';
import { tempStorePerTest } from '../helpers/temp-store.ts';

const MiB = 1024 * 1024;

describe('TransferPaces: whether a transfer crawls', () => {
  const source: PieceSource = { id: 'peer', kind: 'holder', open: () => Promise.reject(new Error('not opened here')) };
  // Every time below is from T0 on (the epoch clock a transfer's timing is on).
  const T0 = Date.now();
  const opened = (bytes = 0, openedMsAgo = 0): Transfer => {
    const transfer = new PieceTransfers().begin(source, [0], false);
    transfer.timing.openedAt = T0 - openedMsAgo;
    transfer.timing.bytes = bytes;
    return transfer;
  };
  /** Paces that saw a transfer take 4 MiB in a second at `now`. */
  const withFastLately = (now: number): TransferPaces => {
    const paces = new TransferPaces();
    paces.seen(opened(4 * MiB, 1_000), now);
    return paces;
  };

  test('judged over a whole window: the rest would take longer than CRAWL_REST_MS at the window pace, and something went much faster lately', () => {
    const paces = withFastLately(T0);
    const transfer = opened();
    assert.equal(paces.crawls(transfer, MiB, T0), false, 'the first look only starts the window');
    transfer.timing.bytes = 1024;
    assert.equal(paces.crawls(transfer, MiB, T0 + (CRAWL_WINDOW_MS - 1)), false, 'not judged before the window is over');
    // 1 KiB in the window: the MiB left would take minutes.
    assert.equal(paces.crawls(transfer, MiB, T0 + CRAWL_WINDOW_MS), true);
  });

  test('with nothing faster lately, nothing crawls: this host\'s own link (or the whole swarm) is the slow part', () => {
    for (const paces of [new TransferPaces(), withFastLately(T0 - BEST_PACE_MS - 1)]) {
      const transfer = opened();
      paces.crawls(transfer, MiB, T0);
      transfer.timing.bytes = 1024;
      assert.equal(paces.crawls(transfer, MiB, T0 + CRAWL_WINDOW_MS), false);
    }
    // Only CRAWL_SLOWER_THAN_BEST times slower than the best: not a crawl either.
    const paces = new TransferPaces();
    paces.seen(opened(CRAWL_SLOWER_THAN_BEST * MiB, CRAWL_WINDOW_MS), T0);
    const transfer = opened();
    paces.crawls(transfer, 4 * MiB, T0);
    transfer.timing.bytes = MiB + 64 * 1024;
    assert.equal(paces.crawls(transfer, 4 * MiB, T0 + CRAWL_WINDOW_MS), false);
  });

  test('a transfer that would finish within CRAWL_REST_MS at its pace does not crawl', () => {
    const paces = withFastLately(T0);
    const transfer = opened();
    paces.crawls(transfer, 2 * MiB, T0);
    transfer.timing.bytes = MiB;
    // A MiB per window, a MiB left: done in one more window.
    assert.equal(paces.crawls(transfer, MiB, T0 + CRAWL_WINDOW_MS), CRAWL_REST_MS < CRAWL_WINDOW_MS);
  });

  test('slowAlone: moved only when every other peer transfer of a piece that peer holds complete goes CRAWL_SLOWER_THAN_BEST times faster (else the link they share is slow)', () => {
    const paces = withFastLately(T0);
    const other = (id: string, pieceDone = true): Transfer => {
      const transfer = new PieceTransfers().begin({ ...source, id, pieceDone }, [1], false);
      transfer.timing.openedAt = T0;
      return transfer;
    };
    const judged = (transfer: Transfer, bytesInWindow: number): Transfer => {
      paces.crawls(transfer, 4 * MiB, T0);
      transfer.timing.bytes += bytesInWindow;
      paces.crawls(transfer, 4 * MiB, T0 + CRAWL_WINDOW_MS);
      return transfer;
    };
    const crawl = { times: CRAWL_SLOWER_THAN_BEST, linkPacedOnly: true };
    const slow = judged(opened(), 16 * 1024);
    const fast = judged(other('fast'), 64 * 16 * 1024);
    const alsoSlow = judged(other('also-slow'), 2 * 16 * 1024);
    assert.equal(slowAlone(paces, slow, [slow, fast], T0 + CRAWL_WINDOW_MS, crawl), true);
    assert.equal(slowAlone(paces, slow, [slow, fast, alsoSlow], T0 + CRAWL_WINDOW_MS, crawl), false);
    const arriving = judged(other('relay', false), 2 * 16 * 1024);
    assert.equal(slowAlone(paces, slow, [slow, fast, arriving], T0 + CRAWL_WINDOW_MS, crawl), true, 'a piece arriving at its source goes at that source\'s own pace: no sign of this host\'s link');
    const unanswered = new PieceTransfers().begin({ ...source, id: 'silent' }, [2], false);
    assert.equal(slowAlone(paces, slow, [slow, unanswered], T0 + CRAWL_WINDOW_MS, crawl), true, 'a request just sent is no evidence');
    assert.equal(slowAlone(paces, slow, [slow, unanswered], unanswered.timing.startedAt + CRAWL_WINDOW_MS + 1, crawl), false, 'one unanswered past a window is');
    const sameSource = judged(opened(), 16 * 1024);
    assert.equal(slowAlone(paces, slow, [slow, sameSource, fast], T0 + CRAWL_WINDOW_MS, crawl), true, 'the same slow peer\'s other transfer does not count');
    // For a stalled owner, any transfer of this host counts, arriving pieces too.
    assert.equal(slowAlone(paces, slow, [slow, fast, arriving], T0 + CRAWL_WINDOW_MS, { times: 2, linkPacedOnly: false }), true, 'the relay went 2 times faster');
    assert.equal(slowAlone(paces, slow, [slow, fast, arriving], T0 + CRAWL_WINDOW_MS, { times: 4, linkPacedOnly: false }), false);
  });

  test('time its writes waited for the blob client, and a source that has not answered, are not judged', () => {
    const paces = withFastLately(T0);
    const unanswered = new PieceTransfers().begin(source, [0], false);
    assert.equal(paces.crawls(unanswered, MiB, T0), false);
    assert.equal(paces.crawls(unanswered, MiB, T0 + (2 * CRAWL_WINDOW_MS)), false, 'connect and answer timeouts judge a source that has not answered');
    const transfer = opened();
    paces.crawls(transfer, MiB, T0);
    transfer.timing.pacedMs = CRAWL_WINDOW_MS;
    assert.equal(paces.crawls(transfer, MiB, T0 + (CRAWL_WINDOW_MS + 100)), false, 'the paced time does not count toward the window');
    transfer.timing.pacingSince = 1;
    assert.equal(paces.crawls(transfer, MiB, T0 + (3 * CRAWL_WINDOW_MS)), false, 'held back now, on purpose');
  });
});

describe('HostCrawls: the peers crawling on this host, all its blobs together', () => {
  test('each blob reports its own; the count is of distinct peers, over reports of the last second', () => {
    const crawls = new HostCrawls();
    const [blobA, blobB] = [{}, {}];
    crawls.report(blobA, new Set(['p1']), 0);
    assert.equal(crawls.count(0), 1);
    crawls.report(blobB, new Set(['p1']), 0);
    assert.equal(crawls.count(0), 1, 'one peer crawling for two blobs is one peer');
    crawls.report(blobB, new Set(['p2']), 100);
    assert.equal(crawls.count(100), 2, 'two peers, one per blob: this host\'s own link');
    assert.equal(crawls.count(1_050), 1, 'a blob that stopped reporting (its engine ended) no longer counts');
    crawls.report(blobB, new Set(), 1_060);
    assert.equal(crawls.count(1_060), 0);
  });
});

describe('distribute: a crawling peer transfer moves to a peer holding the piece complete', { timeout: 120_000 }, () => {
  const open: Array<Host | FakePeer> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((x) => x.close()));
  });

  /** 16 KiB every 200 ms: 80 KiB/s, above the whole-holder floor, so only a crawl can move it. */
  const CRAWL = { kind: 'trickle', chunkDelayMs: 200 } as const;

  async function setUp(content: Buffer, withFast: boolean) {
    assert.ok((16 * 1024 * 1000) / CRAWL.chunkDelayMs > MIN_HOLDER_BYTES_PER_SECOND, 'the slow holder stays above the floor');
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    seed.add(content);
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(...chunk.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)), done()) }));
    const slow = await startFakePeer(network, content, CRAWL);
    open.push(slow);
    const fast = withFast ? await startFakePeer(network, content, { kind: 'busy', times: 0 }) : undefined;
    if (fast) open.push(fast);
    const host = await startHost({ network, seed, name: 'h', logger, fetcher: { pieceSize: MiB } });
    open.push(host);
    await meshed([host.swarm, slow.swarm, ...(fast ? [fast.swarm] : [])]);
    return { seed, slow, fast, host, lines };
  }

  test('two whole holders, one crawling: its pieces resume from the other, nothing from the seed, the slow one not penalised', async () => {
    const content = randomBytes(4 * MiB);
    const { seed, slow, fast, host, lines } = await setUp(content, true);
    const fetched = await host.fetch(digestOf(content));
    assert.ok(fetched?.equals(content), 'verified');
    const moved = lines.filter((l) => l.msg === 'piece transfer crawls while a free peer holds the piece complete; resuming it there');
    assert.ok(moved.length > 0, 'a crawling transfer was moved');
    assert.ok(moved.every((l) => l.source === slow.swarm.peerId), 'only the slow holder was moved off');
    // Unmoved, the slow holder sends each piece it took whole (a MiB each, at 80 KiB/s); moved, a window's worth or so.
    assert.ok(slow.sent() < MiB, `the slow holder sent ${slow.sent()} bytes: its pieces went to the other holder`);
    assert.ok(fast!.sent() > 3 * MiB, `the other holder sent ${fast!.sent()} bytes`);
    assert.equal(seed.total(), 0, 'a slow peer never sends the seed a request');
    assert.equal(host.swarm.isPenalised(slow.swarm.peerId), false, 'slow is not failed: it is not penalised');
  });

  test('the only holder crawls: it is kept (there is nowhere better), and the seed is not asked', async () => {
    const content = randomBytes(MiB + 4096);
    const { seed, slow, host, lines } = await setUp(content, false);
    const fetched = await host.fetch(digestOf(content));
    assert.ok(fetched?.equals(content), 'verified');
    assert.equal(lines.filter((l) => String(l.msg).startsWith('piece transfer crawls')).length, 0, 'nothing to move to');
    assert.equal(slow.sent(), content.length, 'every byte from the slow holder, once');
    assert.equal(seed.total(), 0, 'the seed was not asked');
  });
});

describe('CrawlWatch: a piece owner that stalls is skipped for the piece, once', () => {
  const temp = tempStorePerTest('shoal-stall-');
  const T0 = Date.now();
  const silent = pino({ level: 'silent' });

  /** A 4 MiB blob in 1 MiB pieces, a seed read that went at 4 MiB/s, and a transfer of piece 1 from `from`. */
  async function setUp(from: string, owner: string, seedBytesPerSecond = 4 * MiB, lastEndedBytesPerSecond = 4 * MiB, penalised = 0) {
    const content = randomBytes(4 * MiB);
    const partial = await temp.store.blobs.createPartial(digestOf(content), content.length, MiB);
    const transfers = new PieceTransfers();
    const failures = new PieceFailures();
    // The seed read's pace is measured over whole windows: one window before T0.
    const seedRead = transfers.begin({ id: 'seed', kind: 'seed', open: () => Promise.reject(new Error('not opened here')) }, [0], false);
    seedRead.timing.openedAt = T0 - 2 * CRAWL_WINDOW_MS;
    const fromOwner = transfers.begin({ id: from, kind: 'owner', pieceDone: false, open: () => Promise.reject(new Error('not opened here')) }, [1], false);
    Object.assign(fromOwner.timing, { openedAt: T0, firstAt: T0 });
    // The engine's choice, as far as the watch asks it: who owns piece 1, and whether a peer holds it complete (none).
    const sourcing = { owner: () => owner, completeHolderFree: () => false, penalisedPeers: () => penalised } as unknown as PieceSourcing;
    const watch = new CrawlWatch({ partial, transfers, sourcing, failures, logger: silent });
    watch.moveCrawling(T0 - CRAWL_WINDOW_MS);
    seedRead.timing.bytes = (seedBytesPerSecond * CRAWL_WINDOW_MS) / 1000;
    // The last transfer this host finished: a MiB or more from a peer, at that pace.
    const finished = transfers.begin({ id: 'peer-z', kind: 'holder', pieceDone: true, open: () => Promise.reject(new Error('not opened here')) }, [2], false);
    Object.assign(finished.timing, { openedAt: T0 - 2_000, firstAt: T0 - 2_000, bytes: Math.max(MiB, lastEndedBytesPerSecond) });
    watch.ended(finished, T0 - 2_000 + (1_000 * Math.max(MiB, lastEndedBytesPerSecond)) / lastEndedBytesPerSecond);
    transfers.end(finished);
    return { partial, failures, fromOwner, seedRead, watch };
  }

  test('its transfer STALL_SLOWER_THAN_SEED times slower than this host\'s seed reads over a window: skipped, stopped', async () => {
    const { partial, failures, fromOwner, watch } = await setUp('owner-x', 'owner-x');
    watch.moveCrawling(T0);
    fromOwner.timing.bytes = 16 * 1024; // 16 KiB in 10 s, against 4 MiB/s from the seed
    watch.moveCrawling(T0 + STALL_WINDOW_MS);
    assert.equal(fromOwner.controller.signal.aborted, true, 'the transfer is stopped');
    assert.equal(failures.stalledOwnerOf(1), 'owner-x');
    assert.deepEqual([...(failures.movedOffOf(1) ?? [])], ['owner-x'], 'and not taken as a holder of the piece either');
    await partial.fail(new Error('test over'));
  });

  test('not before its first byte: an owner answers an ask before its own seed read of the piece begins (its turn at a slow seed)', async () => {
    const { partial, failures, fromOwner, watch } = await setUp('owner-x', 'owner-x');
    fromOwner.timing.firstAt = 0;
    watch.moveCrawling(T0);
    watch.moveCrawling(T0 + STALL_WINDOW_MS);
    Object.assign(fromOwner.timing, { firstAt: T0 + STALL_WINDOW_MS, bytes: 16 * 1024 });
    watch.moveCrawling(T0 + STALL_WINDOW_MS + 1);
    assert.equal(fromOwner.controller.signal.aborted, false, 'nothing came in the first window: no stall');
    watch.moveCrawling(T0 + 2 * STALL_WINDOW_MS + 1);
    assert.equal(fromOwner.controller.signal.aborted, true, 'a window of bytes trickling after the first one: a stall');
    assert.equal(failures.stalledOwnerOf(1), 'owner-x');
    await partial.fail(new Error('test over'));
  });

  test('not while this host\'s own seed read crawls as much now (its own link fell, or the seed is busy)', async () => {
    const { partial, failures, fromOwner, seedRead, watch } = await setUp('owner-x', 'owner-x');
    watch.moveCrawling(T0);
    fromOwner.timing.bytes = 16 * 1024;
    // The seed read, fast a moment ago, now takes a few KiB per window like the owner's.
    for (let at = T0 + CRAWL_WINDOW_MS; at < T0 + STALL_WINDOW_MS; at += CRAWL_WINDOW_MS) {
      seedRead.timing.bytes += 4 * 1024;
      watch.moveCrawling(at);
    }
    seedRead.timing.bytes += 4 * 1024;
    watch.moveCrawling(T0 + STALL_WINDOW_MS);
    assert.equal(fromOwner.controller.signal.aborted, false);
    assert.equal(failures.stalledOwnerOf(1), undefined);
    await partial.fail(new Error('test over'));
  });

  test('not when the seed went only a little faster (a slow seed slows every read alike), nor when this host\'s last finished transfer did or it has penalised two peers (its own link fell), nor from a peer that is not the owner', async () => {
    const littleFaster = ((STALL_SLOWER_THAN_SEED / 2) * 16 * 1024) / (STALL_WINDOW_MS / 1000);
    const slowSeed = await setUp('owner-x', 'owner-x', littleFaster);
    const slowLink = await setUp('owner-x', 'owner-x', 4 * MiB, littleFaster);
    const notOwner = await setUp('relay-y', 'owner-x');
    const penalising = await setUp('owner-x', 'owner-x', 4 * MiB, 4 * MiB, 2);
    for (const { partial, failures, fromOwner, watch } of [slowSeed, slowLink, notOwner, penalising]) {
      watch.moveCrawling(T0);
      fromOwner.timing.bytes = 16 * 1024;
      watch.moveCrawling(T0 + STALL_WINDOW_MS);
      assert.equal(fromOwner.controller.signal.aborted, false);
      assert.equal(failures.stalledOwnerOf(1), undefined);
      await partial.fail(new Error('test over'));
    }
  });

  test('once per piece: the next owner, however slow, is not skipped too (it reads the piece from the seed)', async () => {
    const { partial, failures, fromOwner, watch } = await setUp('owner-x', 'owner-x');
    failures.ownerStalled(1, 'owner-w');
    watch.moveCrawling(T0);
    fromOwner.timing.bytes = 16 * 1024;
    watch.moveCrawling(T0 + STALL_WINDOW_MS);
    assert.equal(fromOwner.controller.signal.aborted, false);
    assert.equal(failures.stalledOwnerOf(1), 'owner-w');
    await partial.fail(new Error('test over'));
  });
});
