import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerTable } from '../../src/swarm/peer-table.ts';
import { piecesFromIndexes } from '../../src/swarm/pieces.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const join = { url: 'http://10.0.0.2:5001', addresses: [], clockSkewMs: 0 };

function table(max?: number) {
  let now = 1_000;
  const t = new PeerTable({ now: () => now, maxEntriesPerPeer: max, maxTags: 3 });
  return { t, advance: (ms: number) => (now += ms) };
}

describe('PeerTable', () => {
  test('holders: complete first, then partial with pieces; never peers without a data URL', () => {
    const { t } = table();
    t.join('p-partial', join);
    t.join('p-complete', { ...join, url: 'http://10.0.0.3:5001' });
    t.join('p-no-url', { ...join, url: undefined });
    const pieces = piecesFromIndexes(100, 10, [0, 1]);
    assert.ok(t.setProgress('p-partial', D1, 100, pieces));
    assert.ok(t.addBlobs('p-complete', [{ digest: D1, size: 100 }]));
    assert.ok(t.addBlobs('p-no-url', [{ digest: D1, size: 100 }]));
    assert.deepEqual(t.holders(D1), [
      { peerId: 'p-complete', url: 'http://10.0.0.3:5001', size: 100, complete: true },
      { peerId: 'p-partial', url: join.url, size: 100, complete: false, pieces },
    ]);
    assert.deepEqual(t.holders(D2), []);
  });

  test('a have replaces progress; progress for a complete blob is ignored; withdrawn drops both', () => {
    const { t } = table();
    t.join('p', join);
    t.setProgress('p', D1, 100, piecesFromIndexes(100, 10, [0]));
    t.addBlobs('p', [{ digest: D1, size: 100 }]);
    t.setProgress('p', D1, 100, piecesFromIndexes(100, 10, [0]));
    assert.equal(t.holders(D1)[0]?.complete, true);
    t.removeBlobs('p', [D1]);
    assert.deepEqual(t.holders(D1), []);
    t.setProgress('p', D2, 100, piecesFromIndexes(100, 10, [0]));
    t.removeBlobs('p', [D2]);
    assert.deepEqual(t.holders(D2), []);
  });

  test('leave drops every entry at once; a new hello (join) starts over', () => {
    const { t } = table();
    t.join('p', join);
    t.addBlobs('p', [{ digest: D1, size: 1 }]);
    t.setWants('p', [D2], true);
    t.join('p', join);
    assert.deepEqual(t.holders(D1), []);
    assert.deepEqual(t.wanters(D2), []);
    t.addBlobs('p', [{ digest: D1, size: 1 }]);
    assert.equal(t.leave('p'), true);
    assert.equal(t.leave('p'), false);
    assert.deepEqual(t.holders(D1), []);
    assert.deepEqual(t.peers(), []);
  });

  test('wanters are sorted and ignore penalties (every host must elect from the same set)', () => {
    const { t } = table();
    for (const p of ['pc', 'pa', 'pb']) {
      t.join(p, join);
      t.setWants(p, [D1], true);
    }
    t.penalise('pb', 'bad bytes', 10_000);
    assert.deepEqual(t.wanters(D1), ['pa', 'pb', 'pc']);
    t.setWants('pa', [D1], false);
    assert.deepEqual(t.wanters(D1), ['pb', 'pc']);
  });

  test('penalties hide a holder until they expire; a milder penalty never shortens a ban', () => {
    const { t, advance } = table();
    t.join('p', join);
    t.addBlobs('p', [{ digest: D1, size: 1 }]);
    t.penalise('p', 'bad bytes', 1_000);
    assert.deepEqual(t.holders(D1), []);
    assert.equal(t.refusesConnections('p'), false);
    t.penalise('p', 'violation', 5_000, true);
    t.penalise('p', 'slow', 10);
    assert.equal(t.refusesConnections('p'), true);
    advance(4_999);
    assert.equal(t.penalties().length, 1);
    advance(2);
    assert.equal(t.isPenalised('p'), false);
    assert.deepEqual(t.penalties(), []);
    assert.equal(t.holders(D1).length, 1);
  });

  test('tags: last writer wins, ties broken by origin, oldest-updated evicted past the limit', () => {
    const { t } = table();
    const tag = (repository: string, timestamp: number, origin: string, digest = D1) => ({ repository, tag: 'latest', digest, timestamp, origin });
    assert.equal(t.offerTag(tag('a', 10, 'o1')), true);
    assert.equal(t.offerTag(tag('a', 9, 'o9', D2)), false);
    assert.equal(t.offerTag(tag('a', 10, 'o0', D2)), false);
    assert.equal(t.offerTag(tag('a', 10, 'o2', D2)), true);
    assert.equal(t.newestTag('a', 'latest')?.digest, D2);
    t.offerTag(tag('b', 1, 'o'));
    t.offerTag(tag('c', 1, 'o'));
    t.offerTag(tag('a', 11, 'o'));
    t.offerTag(tag('d', 1, 'o'));
    assert.equal(t.newestTag('b', 'latest'), undefined);
    assert.ok(t.newestTag('a', 'latest'));
  });

  test('entries per peer are bounded', () => {
    const { t } = table(2);
    t.join('p', join);
    assert.equal(t.addBlobs('p', [{ digest: D1, size: 1 }, { digest: D1, size: 1 }]), true);
    assert.equal(t.setProgress('p', D2, 10, piecesFromIndexes(10, 5, [])), true);
    assert.equal(t.addBlobs('p', [{ digest: `sha256:${'3'.repeat(64)}`, size: 1 }]), false);
    assert.equal(t.setWants('p', [D1, D2, `sha256:${'3'.repeat(64)}`], true), false);
  });

  test('silent peers are reported; touch keeps them fresh and records clock skew', () => {
    const { t, advance } = table();
    t.join('a', join);
    t.join('b', join);
    advance(500);
    t.touch('a', 42);
    advance(600);
    assert.deepEqual(t.silentPeers(1_000), ['b']);
    assert.equal(t.peers().find((p) => p.peerId === 'a')?.clockSkewMs, 42);
  });
});
