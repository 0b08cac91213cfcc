// The simulation's design study bench/scale/piece-spread.ts: hosts that lack the same pieces of one
// busy holder take different ones from it and pass them on. Not in the engine: bench:fanout
// (4 × 100 Mbit/s) finished later with it (see the module's header).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { leaveToOther, SPREAD_WAIT_MS, type SpreadView } from '../../bench/scale/piece-spread.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** What each of `hosts` decides for one piece that one peer offers, all lacking it, at `now` ms after first leaving it. */
function takers(hosts: readonly string[], index: number, now = 0, offering = 1, holderLoad = 1): string[] {
  return hosts.filter((self) => {
    const view: SpreadView = { digest: DIGEST, index, selfId: self, offering, holderLoad, lacking: hosts.filter((h) => h !== self), leftSince: 0, now };
    return !leaveToOther(view);
  });
}

describe('scale sim: spreading the pieces one holder offers among the hosts that lack them', () => {
  test('of the hosts lacking a piece one busy peer offers, exactly one takes it at once; the rest leave it, at most SPREAD_WAIT_MS', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 16 }), fc.nat(10_000), (hosts, index) => {
        assert.equal(takers(hosts, index).length, 1, 'one taker within the wait');
        assert.equal(takers(hosts, index, SPREAD_WAIT_MS).length, hosts.length, 'everyone after the wait');
        assert.equal(takers(hosts, index, 0, 2).length, hosts.length, 'a piece two peers offer is taken by anyone');
        assert.equal(takers(hosts, index, 0, 1, 0).length, hosts.length, 'a piece of a peer serving nobody is taken by anyone');
      }),
      { numRuns: 300 },
    );
  });

  test('a host alone lacking the piece never leaves it', () => {
    assert.equal(leaveToOther({ digest: DIGEST, index: 3, selfId: 'a', offering: 1, holderLoad: 4, lacking: [], leftSince: 0, now: 0 }), false);
    assert.equal(leaveToOther({ digest: DIGEST, index: 3, selfId: 'a', offering: 0, holderLoad: 0, lacking: ['a'], leftSince: 0, now: 0 }), false);
  });

  test('over the pieces of a blob every host is the first taker of about its share (not all the lowest)', () => {
    const hosts = ['h1', 'h2', 'h3', 'h4'];
    const first = new Map<string, number>();
    for (let index = 0; index < 400; index++) {
      const [taker] = takers(hosts, index);
      first.set(taker!, (first.get(taker!) ?? 0) + 1);
    }
    for (const h of hosts) assert.ok((first.get(h) ?? 0) > 60 && (first.get(h) ?? 0) < 140, `${h} first for ${first.get(h)} of 400 pieces`);
    // The same pieces, the same taker: every host computes it alike.
    assert.deepEqual(takers(hosts, 7), takers([...hosts].reverse(), 7));
  });
});
