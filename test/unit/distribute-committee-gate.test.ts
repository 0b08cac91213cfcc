// The engine's committee gate: with an owner committee, an owner or seed choice stands only when
// the committee's own ranking names that owner (or this host), else the piece waits for a
// neighbour; and no piece waits for ever, since hosts may still disagree on the committee.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMMITTEE_WAIT_MS, CommitteeGate, committeeAllows } from '../../src/distribute/committee-gate.ts';
import { rankOwners } from '../../src/distribute/owners.ts';
import type { PieceView } from '../../src/distribute/piece-choice.ts';

const DIGEST = `sha256:${'ef'.repeat(32)}`;
const COMMITTEE = ['peer-a', 'peer-b', 'peer-c', 'peer-d'];

function view(selfId: string, index: number, init: Partial<PieceView> = {}): PieceView {
  return {
    digest: DIGEST, index, size: 8, pieceSize: 1, selfId, holders: [], members: new Map(), failed: new Set(), exclude: new Set(),
    demanded: false, seedUsable: true, busyWith: () => 0, maxPerPeer: 2, seedSlotFree: true, membershipSettled: true, balanceOwners: false, ...init,
  };
}

describe('committee gate', () => {
  test("an owner choice stands only for the committee's owner; the seed only for the owner itself", () => {
    const [owner, second] = rankOwners(DIGEST, 3, COMMITTEE) as [string, string];
    const outsider = 'peer-z';
    assert.ok(committeeAllows(view(outsider, 3), { kind: 'owner', peerId: owner, url: 'http://o' }, COMMITTEE));
    assert.ok(!committeeAllows(view(outsider, 3), { kind: 'owner', peerId: second, url: 'http://s' }, COMMITTEE), 'the second in line is not asked while the owner has not failed');
    assert.ok(!committeeAllows(view(outsider, 3), { kind: 'seed' }, COMMITTEE), 'a host outside the committee does not go to the seed');
    assert.ok(committeeAllows(view(owner, 3), { kind: 'seed' }, COMMITTEE), 'the owner goes to the seed');
    assert.ok(committeeAllows(view(outsider, 3, { failed: new Set([owner]) }), { kind: 'owner', peerId: second, url: 'http://s' }, COMMITTEE), 'after the owner failed, the next');
    assert.ok(committeeAllows(view(outsider, 3, { demanded: true }), { kind: 'seed' }, COMMITTEE), 'asked as owner: the seed');
    assert.ok(!committeeAllows(view(outsider, 3), { kind: 'seed' }, []), 'no committee yet: wait');
    assert.ok(committeeAllows(view(outsider, 3), { kind: 'holder', peerId: 'peer-h', url: 'http://h', complete: true, pieceDone: true }, COMMITTEE), 'holders are never gated');
  });

  test(`a piece held back for ${COMMITTEE_WAIT_MS} ms goes ahead`, () => {
    const gate = new CommitteeGate();
    const v = view('peer-z', 5);
    assert.equal(gate.allows(v, { kind: 'seed' }, COMMITTEE, 1_000), false);
    assert.equal(gate.allows(v, { kind: 'seed' }, COMMITTEE, 1_000 + COMMITTEE_WAIT_MS - 1), false);
    assert.equal(gate.allows(v, { kind: 'seed' }, COMMITTEE, 1_000 + COMMITTEE_WAIT_MS), true);
    assert.equal(gate.allows(view('peer-z', 6), { kind: 'wait' }, COMMITTEE, 1_000 + COMMITTEE_WAIT_MS), true, 'a wait is no choice to hold back');
  });

  test(`while the blob's other pieces keep arriving, a held-back piece waits on; ${COMMITTEE_WAIT_MS} ms after the last bytes it goes ahead`, () => {
    const gate = new CommitteeGate();
    const v = view('peer-z', 5);
    assert.equal(gate.allows(v, { kind: 'seed' }, COMMITTEE, 1_000, 0), false);
    const lastBytes = 1_000 + COMMITTEE_WAIT_MS;
    assert.equal(gate.allows(v, { kind: 'seed' }, COMMITTEE, lastBytes + 1, lastBytes), false, 'bytes came in a moment ago');
    assert.equal(gate.allows(v, { kind: 'seed' }, COMMITTEE, lastBytes + COMMITTEE_WAIT_MS - 1, lastBytes), false);
    assert.equal(gate.allows(v, { kind: 'seed' }, COMMITTEE, lastBytes + COMMITTEE_WAIT_MS, lastBytes), true);
  });
});
