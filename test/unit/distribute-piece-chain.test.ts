// Askers chain: a host receiving a piece from a peer tells the swarm at once, so a later asker takes
// the piece from it as it arrives instead of from the one host that had it first (bench:fanout: an
// owner of half the pieces sending each to every asker set the end of the fan-out). And the one
// way two hosts could wait on each other: a piece whose transfer broke off after it was told.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { PieceProgress } from '../../src/distribute/piece-progress.ts';
import { digestOf } from '../../src/oci/index.ts';
import type { PartialBlob } from '../../src/store/index.ts';
import { hasPiece, MemoryNetwork, type PieceSet, type SwarmView } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, meshed, startHost, type Host } from '../helpers/fake-peer.ts';

const MiB = 1024 * 1024;

describe('distribute: askers chain on pieces still arriving', { timeout: 120_000 }, () => {
  const open: Host[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((h) => h.close()));
  });

  test('a host tells the swarm of a piece arriving from a peer before it is complete, and a later asker takes it from there', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(8 * MiB);
    const digest = seed.add(content);
    // a sends at most 4 MiB/s: b's two 4 MiB pieces take about 2 s to arrive.
    const a = await startHost({ network, seed, name: 'a', holds: [content], limits: { uploadBytesPerSecond: 4 * MiB }, fetcher: { pieceSize: 4 * MiB } });
    open.push(a);
    const b = await startHost({ network, seed, name: 'b', fetcher: { pieceSize: 4 * MiB } });
    open.push(b);
    const c = await startHost({ network, seed, name: 'c', fetcher: { pieceSize: 4 * MiB } });
    open.push(c);
    await meshed([a.swarm, b.swarm, c.swarm]);

    const fetching = b.fetch(digest);
    const told = (): boolean =>
      c.swarm.holders(digest.value).some((h) => h.peerId === b.swarm.peerId && !h.complete && h.pieces !== undefined && (hasPiece(h.pieces, 0) || hasPiece(h.pieces, 1)));
    await eventually(told, 10_000, 'b to tell c of a piece it has');
    const received = b.stats.bytesFromPeers;
    assert.ok(received < 4 * MiB, `b told of a piece when it had ${received} bytes of 8 MiB: no piece could be complete yet`);

    const [gotB, gotC] = await Promise.all([fetching, c.fetch(digest)]);
    assert.ok(gotB?.equals(content) && gotC?.equals(content), 'both verified');
    assert.ok((c.stats.fromPeer.get(b.swarm.peerId) ?? 0) > 0, `c took bytes from b while b received them (from a: ${c.stats.fromPeer.get(a.swarm.peerId) ?? 0})`);
    assert.equal(seed.total(), 0, 'the seed sent nothing');
  });
});

describe('distribute: PieceProgress', () => {
  /** `filled`: pieces with some bytes here (default: every piece). */
  function progress(complete: Set<number>, filled?: Set<number>): { progress: PieceProgress; told: PieceSet[] } {
    const told: PieceSet[] = [];
    const swarm = { announceProgress: (_digest: unknown, _size: number, pieces: PieceSet) => void told.push(pieces) } as unknown as SwarmView;
    const blob = {
      digest: digestOf(Buffer.from('x')),
      size: 8 * MiB,
      pieceSize: 4 * MiB,
      completePieces: () => [...complete],
      isPieceComplete: (index: number) => complete.has(index),
      pieceFilled: (index: number) => (filled === undefined || filled.has(index) ? 1 : 0),
    } as unknown as PartialBlob;
    return { progress: new PieceProgress(swarm, blob), told };
  }

  test('a piece arriving is told once, and withdrawn when its transfer ends without it', () => {
    const { progress: p, told } = progress(new Set());
    p.arriving(1);
    p.arriving(1);
    assert.equal(told.length, 1, 'told once');
    assert.equal(hasPiece(told[0]!, 1), true);
    p.ended([1]);
    assert.equal(told.length, 2);
    assert.equal(hasPiece(told[1]!, 1), false, 'an incomplete piece is no longer offered');
  });

  test('a piece broken off after it was told is no longer taken from partial holders; one never told, or complete, still is', () => {
    const complete = new Set<number>();
    const { progress: p } = progress(complete);
    p.brokeOff([0]); // a busy answer: nothing was told, nobody can be reading it from here
    assert.equal(p.chainable(0), true);
    p.arriving(0);
    p.arriving(1);
    complete.add(1);
    p.ended([0, 1]);
    p.brokeOff([0, 1]);
    assert.equal(p.chainable(0), false, 'broken off while peers may read it from here');
    assert.equal(p.chainable(1), true, 'complete: nothing to wait for');
  });

  test('a seed read told as it started and broken off before its first byte: nobody can be reading it from here, it stays chainable', () => {
    const { progress: p, told } = progress(new Set(), new Set([1]));
    p.arriving(0);
    p.arriving(1);
    assert.equal(hasPiece(told.at(-1)!, 0), true, 'told before any byte');
    p.ended([0, 1]);
    p.brokeOff([0, 1]);
    assert.equal(p.chainable(0), true, 'no byte of it ever here');
    assert.equal(p.chainable(1), false, 'bytes were here: peers may be reading them');
  });
});
