// A small swarm shares the seed's link fairly only if every host holds as many seed reads as the
// others: each host runs SMALL_SWARM_SEED_READS at once, its own pieces and the ones peers asked
// it for as their owner, of every blob together (piece-limits.ts). An owner ask that would wait
// for them is told busy rather than queued (PieceEngine.askWouldWait).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { SMALL_SWARM_SEED_READS } from '../../src/distribute/piece-limits.ts';
import { MemoryNetwork } from '../../src/swarm/index.ts';
import { ownerAskQuery } from '../../src/distribute/peer-client.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, meshed, REPOSITORY, startHost, type Host } from '../helpers/fake-peer.ts';

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

test('an owner ask that would wait for the host\'s one seed read is answered busy; once the read ends it is served', { timeout: 60_000 }, async () => {
  const network = new MemoryNetwork();
  // 64 KiB every 40 ms: the first blob's read holds the host's seed slot for about 1.3 s.
  const seed = new CountingSeed({ chunkDelayMs: 40 });
  const first = randomBytes(2 * MiB);
  const asked = randomBytes(MiB);
  const firstDigest = seed.add(first);
  const askedDigest = seed.add(asked);
  const hosts: Host[] = [];
  try {
    // Two members: a small swarm, where a host runs SMALL_SWARM_SEED_READS at once.
    for (const name of ['a', 'b']) hosts.push(await startHost({ network, seed, name, fetcher: { pieceSize: MiB } }));
    await meshed(hosts.map((h) => h.swarm));
    const [a] = hosts as [Host, Host];
    const pulling = a.fetch(firstDigest);
    await eventually(() => (seed.reading.get('a') ?? 0) === SMALL_SWARM_SEED_READS, 5_000, 'a to read the first blob from the seed');
    const ask = (): Promise<Response> => fetch(`${a.url}/blobs/${askedDigest.value}${ownerAskQuery({ repository: REPOSITORY, size: asked.length, from: 'peer-b' })}`, { headers: { range: `bytes=0-${MiB - 1}` } });
    const busy = await ask();
    await busy.arrayBuffer();
    assert.equal(busy.status, 503, 'the ask waits for no seed read: it is told busy');
    assert.ok(Number(busy.headers.get('retry-after')) > 0, 'with Retry-After');
    assert.ok((seed.mostReading.get('a') ?? 0) <= SMALL_SWARM_SEED_READS, 'and starts no second seed read');
    assert.ok((await pulling)?.equals(first));
    const served = await ask();
    assert.equal(served.status, 206);
    assert.ok(Buffer.from(await served.arrayBuffer()).equals(asked), 'asked again once the read ended: the piece, verified bytes');
    // (b owns a piece of the first blob: a asked b for it, and b read it from the seed.)
    assert.equal(seed.total(), first.length + asked.length, 'the seed sent each byte once');
  } finally {
    await Promise.all(hosts.map((h) => h.close()));
  }
});
