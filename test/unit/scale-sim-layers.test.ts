// The scale simulation with an image of several blobs (bench:fanout's 10 + 4 + 2 pieces), one piece
// engine per blob on every host sharing the host's links: owners are balanced per blob, so one host
// can own more of the image than its share, and with hosts starting a moment apart (as skopeo on
// real hosts does) the simulation shows the fan-out's tail, where a single blob shows none.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runScaleSim, SIM_DEFAULTS, type SimOptions } from '../../bench/scale/sim.ts';

const MiB = 2 ** 20;
const IMAGE = 64 * MiB;
const LAYERS = [40 * MiB, 16 * MiB, 8 * MiB];
const fanout = (init: Partial<SimOptions>): SimOptions => ({ ...SIM_DEFAULTS, hosts: 4, mode: 'mesh', imageBytes: IMAGE, pieceBytes: 4 * MiB, hostMbit: 100, seedMbit: 100, layers: LAYERS, ...init });

describe('scale simulation: an image of several blobs', { timeout: 120_000 }, () => {
  test('every host ends with every piece of every blob, each byte once; the seed sends each blob once', () => {
    for (const seed of [1, 2, 3]) {
      const r = runScaleSim(fanout({ seed, jitterMs: 300 }));
      assert.equal(r.finished, 4);
      assert.equal(r.pieceCount, 16);
      assert.equal(r.seedEgress, 1);
      for (const host of r.hosts) {
        assert.equal(host.pieces, 16);
        assert.equal(host.seedBytes + host.peerBytes, IMAGE);
      }
      assert.deepEqual(runScaleSim(fanout({ seed, jitterMs: 300 })).hosts, r.hosts, 'deterministic for a seed');
    }
  });

  test('owners balanced per blob: some host owns more of the image than its share (what one blob of the same size never shows)', () => {
    const most = (r: ReturnType<typeof runScaleSim>) => Math.max(...r.hosts.map((h) => h.seedBytes)) / (4 * MiB);
    const layered = [1, 2, 3, 4, 5].map((seed) => most(runScaleSim(fanout({ seed }))));
    const single = [1, 2, 3, 4, 5].map((seed) => most(runScaleSim(fanout({ seed, layers: undefined }))));
    assert.ok(layered.some((n) => n > 4), `most pieces owned by one host, layered: ${layered}`);
    assert.ok(single.every((n) => n === 4), `one blob: ${single}`);
  });

  test('hosts starting up to 1 s apart leave a tail: the last host finishes well after its own start plus the ideal', () => {
    const runs = [1, 2, 3, 4, 5].map((seed) => runScaleSim(fanout({ seed, jitterMs: 1000 })));
    // A host starting last, at most 1 s late, would finish by 1 s + ideal (1.19x) with no tail.
    assert.ok(runs.some((r) => r.lastFinishMs > r.idealMs + 1000), `last finish / ideal: ${runs.map((r) => (r.lastFinishMs / r.idealMs).toFixed(2))}`);
  });
});
