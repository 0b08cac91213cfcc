// A small swarm shares the seed's link fairly only if every host holds as many seed reads as the
// others: each host runs SMALL_SWARM_SEED_READS at once, its own pieces and the ones peers asked
// it for as their owner, of every blob together (piece-limits.ts).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { SMALL_SWARM_SEED_READS } from '../../src/distribute/piece-limits.ts';
import { MemoryNetwork } from '../../src/swarm/index.ts';
import { CountingSeed, meshed, startHost, type Host } from '../helpers/fake-peer.ts';

const MiB = 1024 * 1024;

test('in a small swarm each host runs SMALL_SWARM_SEED_READS seed reads at once, whatever it owns and is asked for', { timeout: 60_000 }, async () => {
  const network = new MemoryNetwork();
  // 64 KiB every 5 ms: reads overlap as they would on a shared link.
  const seed = new CountingSeed({ chunkDelayMs: 5 });
  const blobs = [randomBytes(6 * MiB), randomBytes(4 * MiB)];
  const digests = blobs.map((b) => seed.add(b));
  const hosts: Host[] = [];
  try {
    for (const name of ['a', 'b', 'c']) hosts.push(await startHost({ network, seed, name, fetcher: { pieceSize: MiB } }));
    await meshed(hosts.map((h) => h.swarm));
    const got = await Promise.all(hosts.flatMap((h) => digests.map((d) => h.fetch(d))));
    for (const [i, bytes] of got.entries()) assert.ok(bytes?.equals(blobs[i % blobs.length]!), 'every host has both blobs, verified');
    assert.ok(seed.total() <= (blobs[0]!.length + blobs[1]!.length) * 1.05, `seed sent ${seed.total()} bytes`);
    for (const host of hosts) {
      const most = seed.mostReading.get(host.name) ?? 0;
      assert.ok(most > 0, `${host.name} read its pieces from the seed`);
      assert.ok(most <= SMALL_SWARM_SEED_READS, `${host.name} ran ${most} seed reads at once`);
    }
  } finally {
    await Promise.all(hosts.map((h) => h.close()));
  }
});
