// Hosts that lack the same pieces of one holder take different ones from it and pass them on
// (piece-order.ts): with lowest first for all, every asker took the holder's pieces at once and its
// uplink carried every copy (bench:fanout, 4 hosts × 100 Mbit/s: a 2–3 s tail of a 5.4 s ideal).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { leaveToOther, SPREAD_WAIT_MS, type SpreadView } from '../../src/distribute/piece-order.ts';
import { MemoryNetwork } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, meshed, startHost, type Host } from '../helpers/fake-peer.ts';

const MiB = 1024 * 1024;
const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** What each of `hosts` decides for one piece that one peer offers, all lacking it, at `now` ms after first leaving it. */
function takers(hosts: readonly string[], index: number, now = 0, offering = 1, holderLoad = 1): string[] {
  return hosts.filter((self) => {
    const view: SpreadView = { digest: DIGEST, index, selfId: self, offering, holderLoad, lacking: hosts.filter((h) => h !== self), leftSince: 0, now };
    return !leaveToOther(view);
  });
}

describe('distribute: spreading the pieces one holder offers among the hosts that lack them', () => {
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

describe('distribute: the engine spreads a holder\'s pieces among the hosts lacking them', { timeout: 120_000 }, () => {
  const open: Host[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((h) => h.close()));
  });

  test('three hosts fetch a blob one slow peer holds: it sends about each piece once, the askers pass them on', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(16 * MiB);
    // 1 MiB pieces: the first ones are taken from a by all (it serves nobody yet), the rest spread.
    const digest = seed.add(content);
    // a sends at most 8 MiB/s: its uplink is the bottleneck, as a busy owner's is in the fan-out's tail.
    const a = await startHost({ network, seed, name: 'a', holds: [content], limits: { uploadBytesPerSecond: 8 * MiB }, fetcher: { pieceSize: MiB } });
    open.push(a);
    const askers: Host[] = [];
    for (const name of ['b', 'c', 'd']) {
      const host = await startHost({ network, seed, name, fetcher: { pieceSize: MiB } });
      open.push(host);
      askers.push(host);
    }
    await meshed([a.swarm, ...askers.map((h) => h.swarm)]);
    // The askers know of each other's want before they start, as hosts a moment into a pull do.
    for (const h of askers) h.swarm.announceWant(digest);
    await eventually(() => askers.every((h) => h.swarm.wanters(digest.value).length === 3), 5_000, 'every asker to hear the others want the blob');

    const got = await Promise.all(askers.map((h) => h.fetch(digest)));
    for (const g of got) assert.ok(g?.equals(content), 'verified');
    assert.equal(seed.total(), 0, 'the seed sent nothing');
    await eventually(() => askers.reduce((sum, h) => sum + h.stats.bytesFromPeers, 0) === 3 * content.length, 2_000, 'counters');
    const fromA = askers.reduce((sum, h) => sum + (h.stats.fromPeer.get(a.swarm.peerId) ?? 0), 0);
    const passedOn = askers.reduce((sum, h) => sum + h.stats.bytesServedToPeers, 0);
    // Lowest first for all: every asker took every piece from a, and a sent all 48 MiB.
    assert.ok(fromA <= 2 * content.length, `a sent ${fromA / MiB} MiB of the 48 MiB the askers took (passed on among them: ${passedOn / MiB} MiB)`);
    assert.ok(passedOn >= content.length, `askers passed on ${passedOn / MiB} MiB`);
  });
});
