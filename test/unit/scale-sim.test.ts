// The scale simulation (bench/scale): a run is a pure function of its options, and what it
// reports holds together — every host ends with every piece, the seed sent at least the image,
// each host received exactly the image. Plus the one shortcut it takes around the real decision
// code: choosePieceSource answers the same given only the top of the owner ranking (above the few
// members among whom owners are balanced; with those few, it gets them all).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { choosePieceSource, MAX_OWNERS_ASKED, type Member, type PieceView } from '../../src/distribute/piece-choice.ts';
import { MAX_BALANCED_MEMBERS, rankOwners } from '../../src/distribute/owners.ts';
import { runScaleSim, SIM_DEFAULTS, type SimOptions } from '../../bench/scale/sim.ts';
import { seededRandom } from '../../bench/scale/clock.ts';
import { Topology } from '../../bench/scale/topology.ts';
import { tellBackLimit } from '../../src/swarm/neighbours.ts';

const MiB = 2 ** 20;
const small = (init: Partial<SimOptions>): SimOptions => ({ ...SIM_DEFAULTS, hosts: 12, mode: 'mesh', imageBytes: 32 * MiB + 12345, pieceBytes: 4 * MiB, jitterMs: 300, ...init });

describe('scale simulation', { timeout: 120_000 }, () => {
  for (const mode of ['mesh', 'capped', 'bounded'] as const) {
    test(`${mode}: the same seed gives the same run; every host ends with every piece; the seed sent at least the image`, () => {
      const options = small({ mode, cap: 5, neighbours: 4, committee: 3 });
      const a = runScaleSim(options);
      const b = runScaleSim(options);
      assert.deepEqual(a, b, 'deterministic for a seed');
      assert.notDeepEqual(runScaleSim({ ...options, seed: 2 }).hosts.map((h) => h.finishMs), a.hosts.map((h) => h.finishMs), 'another seed, another run');
      assert.equal(a.finished, options.hosts);
      for (const host of a.hosts) {
        assert.equal(host.pieces, a.pieceCount, 'every piece');
        assert.equal(host.seedBytes + host.peerBytes, options.imageBytes, 'each byte once per host');
        assert.ok(host.finishMs! >= a.idealMs, 'no host beats its own link');
      }
      assert.ok(a.seedEgress >= 1, `seed egress ${a.seedEgress}`);
      // The timeline (bench:scale's strips) holds together: shares of links, hosts finishing one way.
      assert.ok(a.timeline.length > 0);
      for (const t of a.timeline) for (const share of [t.seedUse, t.uplinkUse, t.idleUploaders]) assert.ok(share >= 0 && share <= 1 + 1e-9, `share ${share} at ${t.ms} ms`);
      assert.ok(a.timeline.every((t, i) => i === 0 || (t.finished >= a.timeline[i - 1]!.finished && t.swarmPieces >= a.timeline[i - 1]!.swarmPieces)));
      assert.ok(a.timeline.some((t) => t.seedUse > 0.5), 'the seed sends at some point');
    });
  }

  test('a full mesh asks the seed for each piece once (owners agree); under a cap of 5 of 11 peers they do not', () => {
    assert.equal(runScaleSim(small({ mode: 'mesh' })).seedEgress, 1);
    const capped = runScaleSim(small({ mode: 'capped', cap: 5 }));
    assert.ok(capped.hosts.every((h) => h.connections <= 5));
    assert.ok(capped.seedEgress > 1, `capped seed egress ${capped.seedEgress}`);
  });

  test('control traffic in a full mesh is one frame per peer per message: each host reads what the others wrote', () => {
    const r = runScaleSim(small({ mode: 'mesh' }));
    const written = r.hosts.reduce((s, h) => s + h.sentFrames, 0);
    const read = r.hosts.reduce((s, h) => s + h.receivedFrames, 0);
    assert.equal(written, read);
    assert.ok(r.hosts.every((h) => h.sentFrames % (r.options.hosts - 1) === 0));
  });

  test('an owner asked for a piece it has none of yet passes it on only once bytes land: asks never close into a circle that stalls', () => {
    // 128 hosts, 16 transfers each: with flows starting before the owner had a byte, the askers
    // told peers of bytes they lacked, the owner took the piece from one of them, and no host ever
    // got it (0 of 128 finished).
    const r = runScaleSim({ ...SIM_DEFAULTS, hosts: 128, mode: 'bounded', imageBytes: 256 * MiB, maxActive: 16, limitFactor: 5 });
    assert.equal(r.finished, 128);
    assert.equal(r.seedEgress, 1);
  });

  test("the engine's transfers at once keep hosts' links busy while a blob spreads (virtual time: 64 hosts, 128 MiB)", () => {
    // With 8 own transfers at once (the old default) every host's slots were held by slow
    // cut-through flows: 2.8-2.9x ideal, uplinks 33% used. DEFAULT_MAX_ACTIVE_PIECES: 1.7x, 58%.
    const run = (maxActive?: number) => runScaleSim({ ...SIM_DEFAULTS, hosts: 64, mode: 'bounded', imageBytes: 128 * MiB, maxActive, limitFactor: 5 });
    const now = run();
    const old = run(8);
    assert.equal(now.finished, 64);
    assert.equal(now.seedEgress, 1);
    assert.ok(now.lastFinishMs < 0.75 * old.lastFinishMs, `last finish ${(now.lastFinishMs / now.idealMs).toFixed(2)}x ideal vs ${(old.lastFinishMs / old.idealMs).toFixed(2)}x with 8`);
    assert.ok(now.uplinkUse > old.uplinkUse + 0.15, `uplinks used ${now.uplinkUse.toFixed(2)} vs ${old.uplinkUse.toFixed(2)}`);
  });

  test('bounded: progress goes both ways between neighbours, up to the bound (blobNeighbours with the peers that tell each host)', () => {
    // One-way own choices left a host hearing 12 peers at 1,000 hosts (the median 24); here 300.
    const hosts = 300;
    const ids = Array.from({ length: hosts }, (_, i) => `host-${i}`);
    const { cap, neighbours, committee } = SIM_DEFAULTS;
    const t = new Topology({ mode: 'bounded', hosts, cap, neighbours, committee }, `sha256:${'ef'.repeat(32)}`, ids, seededRandom(7));
    const bound = neighbours + tellBackLimit(neighbours);
    for (let h = 0; h < hosts; h++) {
      const tells = t.tells![h]!;
      assert.ok(tells.length >= neighbours && tells.length <= bound, `host ${h} tells ${tells.length}`);
      // A host below the bound told back every peer that tells it.
      if (tells.length < bound) assert.deepEqual(t.hears![h]!.filter((p) => !tells.includes(p)), [], `host ${h} tells ${tells.length}`);
      assert.ok(t.hears![h]!.length >= neighbours - 2, `host ${h} hears ${t.hears![h]!.length}`);
    }
  });

  test('above MAX_BALANCED_MEMBERS or under a committee, choosePieceSource answers the same given the top MAX_OWNERS_ASKED + 1 of the rendezvous ranking (as the simulation hands it) as the engine with every member', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 39 }), fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.boolean(), (n, index, self, seedFree, busyMod, committee) => {
        fc.pre(committee || n > MAX_BALANCED_MEMBERS);
        const ids = Array.from({ length: n }, (_, i) => `host-${i}`);
        const selfId = ids[self % n]!;
        const all = new Map<string, Member>(ids.map((id) => [id, { peerId: id, url: `sim://${id}` }]));
        const digest = `sha256:${'ab'.repeat(32)}`;
        const top = rankOwners(digest, index, ids).slice(0, MAX_OWNERS_ASKED + 1);
        const view = (members: ReadonlyMap<string, Member>, balanceOwners: boolean): PieceView => ({
          digest, index, size: 64 * MiB * 4, pieceSize: 4 * MiB, selfId, holders: [], members, failed: new Set(), exclude: new Set(), demanded: false,
          seedUsable: true, busyWith: (peerId) => (busyMod > 0 && Number(peerId.slice(5)) % busyMod === 0 ? 2 : 0), maxPerPeer: 2, seedSlotFree: seedFree, membershipSettled: true, balanceOwners,
        });
        assert.deepEqual(choosePieceSource(view(new Map(top.map((id) => [id, all.get(id)!])), false)), choosePieceSource(view(all, !committee)));
      }),
      { numRuns: 300 },
    );
  });

  test('with few hosts the simulation balances owners as the engine does: the seed sends each piece once, and no host owns more than its share', () => {
    for (const hosts of [4, 8]) {
      for (const seed of [1, 2, 3]) {
        const r = runScaleSim(small({ hosts, imageBytes: 64 * MiB, jitterMs: 0, seed }));
        assert.equal(r.seedEgress, 1);
        // What a host took from the seed is what it owns.
        const share = Math.ceil(r.pieceCount / hosts) * 4 * MiB;
        for (const h of r.hosts) assert.ok(h.seedBytes <= share, `${hosts} hosts, seed ${seed}: a host owns ${h.seedBytes / (4 * MiB)} of ${r.pieceCount} pieces`);
      }
    }
  });
});
