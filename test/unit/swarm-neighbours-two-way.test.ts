// Two-way neighbour sets (neighbours.ts): a host tells the peers that tell it, up to a bound, and
// learns who those are only from progress sent after a peer's snapshot (peer-table.ts markTeller).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Announcements } from '../../src/swarm/announcements.ts';
import { PROTOCOL_VERSION } from '../../src/swarm/protocol.ts';
import { blobNeighbours, tellBackLimit } from '../../src/swarm/neighbours.ts';
import { PeerTable } from '../../src/swarm/peer-table.ts';
import { piecesFromIndexes } from '../../src/swarm/pieces.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const MiB = 2 ** 20;

/** A swarm of `n` hosts that all want the blob, connected where `edges` says (symmetric). */
const swarmArb = fc
  .record({ n: fc.integer({ min: 3, max: 40 }), limit: fc.integer({ min: 1, max: 10 }), seed: fc.nat().map((n) => n.toString(16)) })
  .chain(({ n, limit, seed }) => fc.record({ n: fc.constant(n), limit: fc.constant(limit), seed: fc.constant(seed), edges: fc.array(fc.boolean(), { minLength: (n * (n - 1)) / 2, maxLength: (n * (n - 1)) / 2 }) }));

function build({ n, limit, seed, edges }: { n: number; limit: number; seed: string; edges: boolean[] }) {
  const ids = Array.from({ length: n }, (_, i) => `peer-${seed}-${i}`);
  const connected = ids.map(() => [] as string[]);
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (edges[k++]) {
        connected[i]!.push(ids[j]!);
        connected[j]!.push(ids[i]!);
      }
    }
  }
  const digest = `sha256:${seed.padEnd(64, '0')}`;
  const tellsWith = (tellers: readonly string[][]) => ids.map((id, h) => blobNeighbours(id, digest, connected[h]!, ids, limit, tellers[h]));
  const hearers = (tells: readonly string[][]) => ids.map((id) => ids.filter((_, h) => tells[h]!.includes(id)));
  const own = tellsWith(ids.map(() => []));
  const tells = tellsWith(hearers(own));
  return { ids, digest, connected, own, tells, hears: hearers(tells), tellersOf: hearers(own), limit };
}

describe('neighbours: two-way sets', () => {
  test('a host keeps its own choice and adds the peers that tell it, best scored first, at most tellBackLimit more', () => {
    fc.assert(
      fc.property(swarmArb, (s) => {
        const { ids, connected, own, tells, limit } = build(s);
        ids.forEach((id, h) => {
          assert.ok(own[h]!.every((p) => tells[h]!.includes(p)), 'own choice kept');
          assert.ok(tells[h]!.every((p) => p !== id && connected[h]!.includes(p)), 'only connected peers, never itself');
          assert.equal(new Set(tells[h]).size, tells[h]!.length, 'no one twice');
          const bound = connected[h]!.length <= limit ? connected[h]!.length : limit + tellBackLimit(limit);
          assert.ok(tells[h]!.length <= bound, `${tells[h]!.length} told, bound ${bound}`);
        });
      }),
    );
  });

  test('symmetric up to the bound: a teller goes untold only where more tellers than tellBackLimit fall outside the own choice', () => {
    fc.assert(
      fc.property(swarmArb, (s) => {
        const { ids, digest, connected, own, tells, hears, tellersOf, limit } = build(s);
        ids.forEach((_, h) => {
          const outside = tellersOf[h]!.filter((p) => !own[h]!.includes(p));
          const untold = hears[h]!.filter((p) => !tells[h]!.includes(p));
          if (outside.length <= tellBackLimit(limit)) assert.deepEqual(untold, [], 'every teller told back');
          else assert.equal(untold.length, outside.length - tellBackLimit(limit));
        });
        // One round settles it: the sets the others actually send add no teller outside the own choice.
        assert.deepEqual(tells, ids.map((id, h) => blobNeighbours(id, digest, connected[h]!, ids, limit, hears[h])));
      }),
    );
  });

  test('deterministic: the order peers are listed in changes nothing', () => {
    fc.assert(
      fc.property(swarmArb, fc.nat(), (s, turn) => {
        const { ids, digest, connected, tellersOf, tells, limit } = build(s);
        const shuffle = (list: readonly string[]) => [...list.slice(turn % (list.length || 1)), ...list.slice(0, turn % (list.length || 1))].reverse();
        ids.forEach((id, h) => {
          const again = blobNeighbours(id, digest, shuffle(connected[h]!), shuffle(ids), limit, shuffle(tellersOf[h]!));
          assert.deepEqual(new Set(again), new Set(tells[h]));
        });
      }),
    );
  });

  test('in a full swarm of 100 with the limit 24, every host hears at least 24 (its own choice alone: 11 at worst)', () => {
    const ids = Array.from({ length: 100 }, (_, i) => `host-${i}`);
    const limit = 24;
    const others = (id: string) => ids.filter((p) => p !== id);
    const own = ids.map((id) => blobNeighbours(id, DIGEST, others(id), ids, limit));
    const tellers = ids.map((id) => ids.filter((_, h) => own[h]!.includes(id)));
    const tells = ids.map((id, h) => blobNeighbours(id, DIGEST, others(id), ids, limit, tellers[h]));
    const heard = (sets: string[][]) => Math.min(...ids.map((id) => sets.filter((t) => t.includes(id)).length));
    assert.ok(heard(own) < limit, `one-way, the fewest heard is ${heard(own)} (else this test shows nothing)`);
    assert.ok(heard(tells) >= limit, `two-way, the fewest heard is ${heard(tells)}`);
    assert.ok(Math.max(...tells.map((t) => t.length)) <= limit + tellBackLimit(limit));
  });

  test('tellers that do not want the blob, or are not connected, are not told', () => {
    const connected = Array.from({ length: 6 }, (_, i) => `p${i}`);
    const wanters = ['p0', 'p1', 'p2', 'p3'];
    const own = blobNeighbours('self', DIGEST, connected, wanters, 2);
    const outside = wanters.filter((p) => !own.includes(p));
    const told = blobNeighbours('self', DIGEST, connected, wanters, 2, [...outside, 'p5', 'gone']);
    assert.equal(told.length, 2 + tellBackLimit(2));
    assert.deepEqual(told.slice(0, 2), own);
    assert.ok(outside.includes(told[2]!), `told back ${told[2]}, one of ${outside.join(',')}`);
  });
});

describe('peer table: who tells us', () => {
  function joined() {
    const table = new PeerTable();
    const tellers: Array<[string, string]> = [];
    const announcements = new Announcements({ selfId: 'self', table, inventory: () => [], dataPlane: {}, emit: () => undefined, onTeller: (peerId, digest) => tellers.push([peerId, digest]) });
    const remote = { host: '10.0.0.2', addresses: [] };
    announcements.receive('peer-a', { type: 'hello', version: PROTOCOL_VERSION, time: Date.now() }, remote);
    const progress = (indexes: number[]) => announcements.receive('peer-a', { type: 'progress', digest: DIGEST, size: 4 * MiB, pieces: piecesFromIndexes(4 * MiB, MiB, indexes), load: 0 }, remote);
    return { table, tellers, announcements, remote, progress };
  }

  test('progress in the snapshot (before synced) goes to everyone and makes no teller; progress after it does, once', () => {
    const { table, tellers, announcements, remote, progress } = joined();
    progress([0]);
    assert.deepEqual(table.tellers(DIGEST), [], 'snapshot progress');
    announcements.receive('peer-a', { type: 'synced' }, remote);
    progress([0, 1]);
    progress([0, 1, 2]);
    assert.deepEqual(table.tellers(DIGEST), ['peer-a']);
    assert.deepEqual(tellers, [['peer-a', DIGEST]], 'told once');
  });

  test('the mark goes when the peer completes the blob or leaves', () => {
    const { table, announcements, remote, progress } = joined();
    announcements.receive('peer-a', { type: 'synced' }, remote);
    progress([0]);
    announcements.receive('peer-a', { type: 'have', blobs: [{ digest: DIGEST, size: 4 * MiB }] }, remote);
    assert.deepEqual(table.tellers(DIGEST), [], 'complete');
    announcements.receive('peer-a', { type: 'withdrawn', digests: [DIGEST] }, remote);
    progress([1]);
    assert.deepEqual(table.tellers(DIGEST), ['peer-a'], 'fetching it again');
    announcements.leave('peer-a', 'gone');
    assert.deepEqual(table.tellers(DIGEST), [], 'left');
  });
});
