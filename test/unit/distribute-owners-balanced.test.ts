// Balanced owners among few members (owners.ts ownerRanking): with rendezvous alone, one of 4
// members owns ~6 of 16 pieces and its uplink sets when the last host finishes. Every host must
// still compute the same owner of every piece from the same membership, in any listing order.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { balancedRankings, MAX_BALANCED_MEMBERS, ownerRanking, rankOwners } from '../../src/distribute/owners.ts';
import { choosePieceSource, type Member, type PieceView } from '../../src/distribute/piece-choice.ts';

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const peerId = fc.string({ unit: fc.constantFrom(...BASE58), minLength: 44, maxLength: 44 }).map((s) => `12D3KooW${s}`);
const digest = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }).map((hex) => `sha256:${hex}`);
const members = (min: number, max: number): fc.Arbitrary<string[]> => fc.uniqueArray(peerId, { minLength: min, maxLength: max });
const withShuffle = (min: number, max: number): fc.Arbitrary<[string[], string[]]> =>
  members(min, max).chain((m) => fc.tuple(fc.constant(m), fc.shuffledSubarray(m, { minLength: m.length, maxLength: m.length })));

function ownedCounts(rankings: readonly (readonly string[])[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const ranking of rankings) counts.set(ranking[0]!, (counts.get(ranking[0]!) ?? 0) + 1);
  return counts;
}

describe(`piece owners balanced among up to ${MAX_BALANCED_MEMBERS} members`, () => {
  test('every host computes the same rankings from the same members, whatever order it lists them in', () => {
    fc.assert(
      fc.property(digest, fc.integer({ min: 1, max: 64 }), withShuffle(1, MAX_BALANCED_MEMBERS), (d, pieces, [list, shuffled]) => {
        const rankings = balancedRankings(d, pieces, list);
        assert.deepEqual(balancedRankings(d, pieces, shuffled), rankings, 'computed from another listing order');
        for (let piece = 0; piece < pieces; piece++) assert.deepEqual(ownerRanking(d, piece, pieces, shuffled), rankings[piece], `piece ${piece} (cached)`);
      }),
      { numRuns: 200 },
    );
  });

  test('each member owns at most ⌈pieces ÷ members⌉ pieces', () => {
    fc.assert(
      fc.property(digest, fc.integer({ min: 1, max: 200 }), members(1, MAX_BALANCED_MEMBERS), (d, pieces, list) => {
        const counts = ownedCounts(balancedRankings(d, pieces, list));
        const quota = Math.ceil(pieces / list.length);
        for (const [member, owned] of counts) assert.ok(owned <= quota, `${member} owns ${owned} of ${pieces} pieces (at most ${quota})`);
      }),
      { numRuns: 300 },
    );
  });

  test('a ranking is every member once: the owner, then the rest in rendezvous order (the fallback order)', () => {
    fc.assert(
      fc.property(digest, fc.integer({ min: 1, max: 64 }), members(1, MAX_BALANCED_MEMBERS), fc.nat(), (d, pieces, list, at) => {
        const piece = at % pieces;
        const [owner, ...rest] = ownerRanking(d, piece, pieces, list);
        assert.ok(owner !== undefined && list.includes(owner));
        assert.deepEqual(rest, rankOwners(d, piece, list).filter((m) => m !== owner));
      }),
      { numRuns: 300 },
    );
  });

  test(`above ${MAX_BALANCED_MEMBERS} members, or for a piece outside the blob, the ranking is plain rendezvous`, () => {
    fc.assert(
      fc.property(digest, fc.integer({ min: 1, max: 64 }), members(MAX_BALANCED_MEMBERS + 1, 24), fc.nat(), (d, pieces, list, at) => {
        const piece = at % pieces;
        assert.deepEqual(ownerRanking(d, piece, pieces, list), rankOwners(d, piece, list));
        const few = list.slice(0, MAX_BALANCED_MEMBERS);
        assert.deepEqual(ownerRanking(d, pieces, pieces, few), rankOwners(d, pieces, few), 'piece past the end');
      }),
      { numRuns: 200 },
    );
  });

  test('choosePieceSource asks the balanced owner; under an owner committee, the rendezvous owner', () => {
    const d = `sha256:${'3c'.repeat(32)}`;
    const ids = ['12D3KooWa', '12D3KooWb', '12D3KooWc', '12D3KooWd'];
    const pieces = 16;
    const map = new Map<string, Member>(ids.map((id) => [id, { peerId: id, url: `http://${id}` }]));
    const view = (index: number, balanceOwners: boolean): PieceView => ({
      digest: d, index, size: pieces * 4, pieceSize: 4, selfId: 'asker', holders: [], members: map, failed: new Set(), exclude: new Set(),
      demanded: false, seedUsable: true, busyWith: () => 0, maxPerPeer: 2, seedSlotFree: true, membershipSettled: true, balanceOwners,
    });
    const asked = (balanceOwners: boolean): string[] =>
      Array.from({ length: pieces }, (_, index) => {
        const choice = choosePieceSource(view(index, balanceOwners));
        assert.equal(choice.kind, 'owner');
        return choice.kind === 'owner' ? choice.peerId : '';
      });
    const balanced = asked(true);
    assert.deepEqual(balanced, Array.from({ length: pieces }, (_, index) => ownerRanking(d, index, pieces, ids)[0]));
    assert.ok(Math.max(...ownedCounts(balanced.map((o) => [o])).values()) <= pieces / ids.length);
    assert.deepEqual(asked(false), Array.from({ length: pieces }, (_, index) => rankOwners(d, index, ids)[0]));
    // This blob is one where rendezvous alone is lopsided, so the two answers differ.
    assert.ok(Math.max(...ownedCounts(asked(false).map((o) => [o])).values()) > pieces / ids.length);
  });
});
