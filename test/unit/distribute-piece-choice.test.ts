// choosePieceSource for a piece another host asked this one for as its owner (demanded): a holder
// first, the seed only once this host can trust its view of the swarm (a joiner waits).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { choosePieceSource, type Member, type PieceView } from '../../src/distribute/piece-choice.ts';
import { piecesFromIndexes } from '../../src/swarm/index.ts';

const self = '12D3KooWself';
const other = '12D3KooWother';
const members = new Map<string, Member>([
  [self, { peerId: self, url: undefined }],
  [other, { peerId: other, url: 'http://other' }],
]);

function view(init: Partial<PieceView>): PieceView {
  return {
    digest: `sha256:${'5d'.repeat(32)}`, index: 1, size: 16, pieceSize: 4, selfId: self, holders: [], members, failed: new Set(), exclude: new Set(),
    demanded: true, seedUsable: true, busyWith: () => 0, maxPerPeer: 2, seedSlotFree: true, membershipSettled: true, balanceOwners: true, ...init,
  };
}

describe('distribute: choosing the source of a piece asked for as owner', () => {
  test('settled: the seed', () => {
    assert.deepEqual(choosePieceSource(view({})), { kind: 'seed' });
  });

  test('a host that just joined waits (its asker hears busy): another member may have the piece on its way', () => {
    assert.deepEqual(choosePieceSource(view({ membershipSettled: false })), { kind: 'wait' });
  });

  test('a member with the piece arriving serves it, settled or not', () => {
    const arriving = { peerId: other, url: 'http://other', size: 16, complete: false, pieces: piecesFromIndexes(16, 4, new Set([1])) };
    for (const membershipSettled of [true, false]) {
      assert.deepEqual(choosePieceSource(view({ membershipSettled, holders: [arriving] })), { kind: 'holder', peerId: other, url: 'http://other', complete: false, pieceDone: false });
    }
  });
});

describe('distribute: an owner this host penalised', () => {
  // A piece `other` owns: four pieces of 4 bytes between two members, balanced, so two are its.
  const owned = [0, 1, 2, 3].find((index) => choosePieceSource(view({ demanded: false, index })).kind === 'owner')!;

  test('is skipped like an owner that failed the piece: this host, next in rank, reads it from the seed', () => {
    assert.deepEqual(choosePieceSource(view({ demanded: false, index: owned })), { kind: 'owner', peerId: other, url: 'http://other' });
    assert.deepEqual(choosePieceSource(view({ demanded: false, index: owned, penalised: (peerId) => peerId === other })), { kind: 'seed' });
    assert.deepEqual(choosePieceSource(view({ demanded: false, index: owned, failed: new Set([other]) })), { kind: 'seed' });
  });

  test('a penalised holder is no holder (the swarm leaves it out); an owner not penalised is asked as before', () => {
    assert.deepEqual(choosePieceSource(view({ demanded: false, index: owned, penalised: () => false })), { kind: 'owner', peerId: other, url: 'http://other' });
  });
});

describe('distribute: a piece this host owns and was taken over from', () => {
  // A piece this host owns: the other two of four are `other`'s.
  const own = [0, 1, 2, 3].find((index) => choosePieceSource(view({ demanded: false, index })).kind === 'seed')!;

  test('comes from the member reading it from the seed now, asked here as owner or not', () => {
    for (const demanded of [false, true]) {
      assert.deepEqual(choosePieceSource(view({ demanded, index: own, takenBy: other, exclude: new Set([self]) })), { kind: 'owner', peerId: other, url: 'http://other' });
    }
  });

  test('once that member failed it: the next owner, not the seed (this host is skipped as its owner)', () => {
    const third = '12D3KooWthird';
    const three = new Map<string, Member>([...members, [third, { peerId: third, url: 'http://third' }]]);
    const index = [0, 1, 2, 3].find((i) => choosePieceSource(view({ demanded: false, index: i, members: three })).kind === 'seed')!;
    const choice = choosePieceSource(view({ demanded: false, index, members: three, takenBy: other, failed: new Set([other]), exclude: new Set([self]) }));
    assert.deepEqual(choice, { kind: 'owner', peerId: third, url: 'http://third' });
  });
});
