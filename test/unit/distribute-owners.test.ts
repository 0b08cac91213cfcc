import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ownerOf as electedFor, rankOwners } from '../../src/distribute/owners.ts';

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const peerId = fc.string({ unit: fc.constantFrom(...BASE58), minLength: 44, maxLength: 44 }).map((s) => `12D3KooW${s}`);
const digest = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }).map((hex) => `sha256:${hex}`);
const candidates = (min: number, max: number): fc.Arbitrary<string[]> => fc.uniqueArray(peerId, { minLength: min, maxLength: max });

describe('piece owners (rendezvous hashing over the swarm members)', () => {
  test('no candidates: nobody; one candidate: always that one', () => {
    assert.equal(electedFor('sha256:' + 'a'.repeat(64), 0, []), undefined);
    fc.assert(fc.property(digest, fc.nat(10_000), peerId, (d, piece, only) => electedFor(d, piece, [only]) === only));
  });

  test('deterministic, and the same whatever order each host lists the candidates in', () => {
    fc.assert(
      fc.property(digest, fc.nat(100_000), candidates(1, 12).chain((c) => fc.tuple(fc.constant(c), fc.shuffledSubarray(c, { minLength: c.length, maxLength: c.length }))), (d, piece, [list, shuffled]) => {
        const winner = electedFor(d, piece, list);
        assert.ok(winner !== undefined && list.includes(winner));
        assert.equal(electedFor(d, piece, list), winner, 'same answer twice');
        assert.equal(electedFor(d, piece, shuffled), winner, 'same answer from another host listing the candidates in another order');
      }),
      { numRuns: 300 },
    );
  });

  test('each piece has exactly one owner: of the hosts computing the election, exactly one finds itself elected', () => {
    fc.assert(
      fc.property(digest, candidates(1, 8), fc.integer({ min: 1, max: 64 }), (d, hosts, pieces) => {
        for (let piece = 0; piece < pieces; piece++) {
          // Every host computes the election on its own (the candidate list as it would see it).
          const owners = hosts.filter((self) => electedFor(d, piece, [...hosts].sort()) === self);
          assert.equal(owners.length, 1, `piece ${piece} has ${owners.length} owners`);
        }
      }),
      { numRuns: 100 },
    );
  });

  test('balanced within reason across 8 candidates', () => {
    // 1024 pieces over 8 hosts: 128 each on average, standard deviation ~10.6. Bounds at ±6 sd.
    const PIECES = 1024;
    fc.assert(
      fc.property(digest, candidates(8, 8), (d, hosts) => {
        const counts = new Map(hosts.map((h) => [h, 0]));
        for (let piece = 0; piece < PIECES; piece++) {
          const winner = electedFor(d, piece, hosts)!;
          counts.set(winner, counts.get(winner)! + 1);
        }
        for (const [host, count] of counts) assert.ok(count >= 64 && count <= 192, `${host} owns ${count} of ${PIECES} pieces`);
      }),
      { numRuns: 40 },
    );
  });

  test('a host that leaves moves only the pieces it owned; one that joins takes pieces only for itself', () => {
    fc.assert(
      fc.property(digest, candidates(2, 9), (d, hosts) => {
        const leaver = hosts[0]!;
        const rest = hosts.slice(1);
        for (let piece = 0; piece < 128; piece++) {
          const before = electedFor(d, piece, hosts);
          const after = electedFor(d, piece, rest);
          if (before !== leaver) assert.equal(after, before, `piece ${piece} moved though its owner stayed`);
          // Read the other way round: `leaver` joining `rest` takes a piece or leaves it where it was.
          assert.ok(before === leaver || before === after);
        }
      }),
      { numRuns: 100 },
    );
  });

  test('a host elected among a superset is elected among every subset that contains it (a member missing from one view never takes a piece from the host that owns it)', () => {
    fc.assert(
      fc.property(digest, candidates(2, 10), fc.nat(1_000), fc.infiniteStream(fc.boolean()), (d, all, piece, keep) => {
        const winner = electedFor(d, piece, all)!;
        const flags = [...keep.take(all.length)];
        const subset = all.filter((h, i) => h === winner || flags[i]);
        assert.equal(electedFor(d, piece, subset), winner);
      }),
      { numRuns: 300 },
    );
  });

  test('different digests and pieces spread ownership differently (not one host for a whole blob)', () => {
    const hosts = ['12D3KooWa', '12D3KooWb', '12D3KooWc', '12D3KooWd'];
    const d = `sha256:${'1'.repeat(64)}`;
    const owners = new Set(Array.from({ length: 32 }, (_, piece) => electedFor(d, piece, hosts)));
    assert.equal(owners.size, hosts.length);
  });

  test('the ranking starts with the owner, lists every member once, and is the same in any listing order', () => {
    fc.assert(
      fc.property(digest, fc.nat(10_000), candidates(1, 10).chain((c) => fc.tuple(fc.constant(c), fc.shuffledSubarray(c, { minLength: c.length, maxLength: c.length }))), (d, piece, [list, shuffled]) => {
        const ranking = rankOwners(d, piece, list);
        assert.equal(ranking[0], electedFor(d, piece, list));
        assert.deepEqual([...ranking].sort(), [...list].sort());
        assert.deepEqual(rankOwners(d, piece, shuffled), ranking);
      }),
      { numRuns: 200 },
    );
  });

  test('when the owner leaves, the next in its ranking becomes the owner (askers fall back in the order the pieces move)', () => {
    fc.assert(
      fc.property(digest, fc.nat(10_000), candidates(2, 10), (d, piece, hosts) => {
        const [first, second] = rankOwners(d, piece, hosts);
        assert.equal(electedFor(d, piece, hosts.filter((h) => h !== first)), second);
      }),
      { numRuns: 200 },
    );
  });
});
