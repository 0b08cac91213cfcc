// Per-blob neighbour sets on real libp2p nodes over loopback: past the neighbour limit a host's
// progress on a blob goes only to peers that want that blob (at most the limit of them), not to
// every connection; within it, every peer hears it as before.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { createSwarm, hasPiece, piecesFromIndexes, type Swarm } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';

const MiB = 2 ** 20;
const DIGEST = `sha256:${'cd'.repeat(32)}`;
const running: Swarm[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

/** `blobNeighbours`: every host's limit, or each one's. */
async function mesh(count: number, limits: number | readonly number[]): Promise<Swarm[]> {
  const swarms: Swarm[] = [];
  for (let i = 0; i < count; i++) {
    const blobNeighbours = typeof limits === 'number' ? limits : limits[i]!;
    const s = await createSwarm(
      { listenAddresses: ['127.0.0.1'], mdns: false, dataPort: 5001, pieceSize: MiB, ownerCommittee: 0, blobNeighbours, redialIntervalMs: 200, bootstrap: swarms.flatMap((p) => p.multiaddrs) },
      { inventory: () => [] },
    );
    running.push(s);
    await s.start();
    swarms.push(s);
  }
  await eventually(() => swarms.every((s) => s.peers().filter((p) => p.synced).length === count - 1), 20_000, 'a full mesh');
  return swarms;
}

/** Which of the others heard `from`'s progress on DIGEST, after it announced it. */
async function heardProgress(swarms: Swarm[], from: Swarm): Promise<number[]> {
  from.announceProgress(DIGEST, 4 * MiB, piecesFromIndexes(4 * MiB, MiB, [0]));
  await eventually(() => swarms.some((s) => s !== from && s.holders(DIGEST).length > 0), 5_000, 'progress to arrive');
  await new Promise((resolve) => setTimeout(resolve, 300));
  return swarms.flatMap((s, i) => (s !== from && s.holders(DIGEST).some((h) => h.peerId === from.peerId) ? [i] : []));
}

describe('swarm: per-blob neighbour sets', { timeout: 60_000 }, () => {
  test('past the limit, progress goes to peers that want the blob, at most the limit of them', async () => {
    const swarms = await mesh(6, 2);
    const [a] = swarms as [Swarm];
    for (const i of [1, 2, 3]) swarms[i]!.announceWant(DIGEST);
    await eventually(() => a.wanters(DIGEST).length === 3, 5_000, 'a to hear three wants');
    const heard = await heardProgress(swarms, a);
    assert.equal(heard.length, 2, `told ${heard.join(',')}`);
    assert.ok(heard.every((i) => [1, 2, 3].includes(i)), `only wanters hear it (told ${heard.join(',')})`);
  });

  test('a peer that starts wanting the blob later hears the progress made so far', async () => {
    const swarms = await mesh(5, 2);
    const [a, b] = swarms as [Swarm, Swarm];
    a.announceProgress(DIGEST, 4 * MiB, piecesFromIndexes(4 * MiB, MiB, [0, 1]));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(b.holders(DIGEST).length, 0, 'b, wanting nothing, heard nothing');
    b.announceWant(DIGEST);
    await eventually(() => b.holders(DIGEST).some((h) => h.peerId === a.peerId), 5_000, 'b to hear a\'s progress once it wants the blob');
  });

  test('a peer that tells us its progress hears ours back, the progress so far at once (two-way sets)', async () => {
    // a tells 2 of its 3 wanters (plus one teller back); the others' limit is above the swarm, so they tell everyone.
    const swarms = await mesh(5, [2, 24, 24, 24, 24]);
    const [a] = swarms as [Swarm];
    for (const i of [1, 2, 3]) swarms[i]!.announceWant(DIGEST);
    await eventually(() => a.wanters(DIGEST).length === 3, 5_000, 'a to hear three wants');
    const heard = await heardProgress(swarms, a);
    const left = [1, 2, 3].filter((i) => !heard.includes(i));
    assert.equal(left.length, 1, `a told ${heard.join(',')}`);
    const x = swarms[left[0]!]!;
    assert.ok(!x.holders(DIGEST).some((h) => h.peerId === a.peerId), 'x, outside a\'s own choice, heard nothing yet');
    x.announceProgress(DIGEST, 4 * MiB, piecesFromIndexes(4 * MiB, MiB, [3]));
    await eventually(() => x.holders(DIGEST).some((h) => h.peerId === a.peerId), 5_000, 'x to hear a\'s progress once x tells a');
    a.announceProgress(DIGEST, 4 * MiB, piecesFromIndexes(4 * MiB, MiB, [0, 1]));
    await eventually(() => {
      const pieces = x.holders(DIGEST).find((h) => h.peerId === a.peerId)?.pieces;
      return pieces !== undefined && hasPiece(pieces, 1);
    }, 5_000, 'x to hear a\'s next progress');
  });

  test('within the limit every peer hears the progress, wanting the blob or not (a small LAN as before)', async () => {
    const swarms = await mesh(4, 24);
    const heard = await heardProgress(swarms, swarms[0]!);
    assert.deepEqual(heard, [1, 2, 3]);
  });
});
