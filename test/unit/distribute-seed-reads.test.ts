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

/** Runs `check` with two meshed hosts a and b (a small swarm, where a host runs SMALL_SWARM_SEED_READS at once). */
async function withTwoHosts(seed: CountingSeed, check: (a: Host, b: Host) => Promise<void>): Promise<void> {
  const network = new MemoryNetwork();
  const hosts: Host[] = [];
  try {
    for (const name of ['a', 'b']) hosts.push(await startHost({ network, seed, name, fetcher: { pieceSize: MiB } }));
    await meshed(hosts.map((h) => h.swarm));
    await check(hosts[0]!, hosts[1]!);
  } finally {
    await Promise.all(hosts.map((h) => h.close()));
  }
}

/** `asker` (a member: only members' asks are taken) asks `host`, as the owner of the first MiB of `digest`, for it. */
function askAsOwner(host: Host, asker: Host, digest: { readonly value: string }, size: number): Promise<Response> {
  return fetch(`${host.url}/blobs/${digest.value}${ownerAskQuery({ repository: REPOSITORY, size, from: asker.swarm.peerId })}`, { headers: { range: `bytes=0-${MiB - 1}` } });
}

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
  // 64 KiB every 40 ms: the first blob's read holds the host's seed slot for about 1.3 s.
  const seed = new CountingSeed({ chunkDelayMs: 40 });
  const first = randomBytes(2 * MiB);
  const asked = randomBytes(MiB);
  const firstDigest = seed.add(first);
  const askedDigest = seed.add(asked);
  await withTwoHosts(seed, async (a, b) => {
    const pulling = a.fetch(firstDigest);
    await eventually(() => (seed.reading.get('a') ?? 0) === SMALL_SWARM_SEED_READS, 5_000, 'a to read the first blob from the seed');
    const ask = (): Promise<Response> => askAsOwner(a, b, askedDigest, asked.length);
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
  });
});

test('an owner ask told it may come goes before the host\'s own seed reads that would start after it', { timeout: 60_000 }, async () => {
  // 64 KiB every 40 ms (a 1 MiB piece holds the seed slot ~0.6 s); the asked blob's size check
  // at the seed takes 0.4 s, as on a link busy with other hosts' reads.
  const seed = new CountingSeed({ chunkDelayMs: 40, headDelayMs: 400 });
  const own = randomBytes(4 * MiB);
  const asked = randomBytes(MiB);
  const ownDigest = seed.add(own);
  const askedDigest = seed.add(asked);
  await withTwoHosts(seed, async (a, b) => {
    // a's own pull needs no size check (a manifest named it): its seed reads could start at once.
    a.fetcher.sizes.remember([{ digest: ownDigest, size: own.length }]);
    const answer = await askAsOwner(a, b, askedDigest, asked.length);
    assert.equal(answer.status, 206, 'a has no seed read running: the ask is answered');
    const body = answer.arrayBuffer();
    const pulling = a.fetch(ownDigest);
    assert.ok(Buffer.from(await body).equals(asked), 'the asked piece, whole');
    assert.ok((await pulling)?.equals(own));
    const reads = seed.log.filter((r) => r.host === 'a').map((r) => (r.digest === askedDigest.value ? 'asked' : 'own'));
    assert.equal(reads[0], 'asked', `a read the asked piece before its own pieces (a's seed reads in order: ${reads.join(', ')})`);
    assert.ok((seed.mostReading.get('a') ?? 0) <= SMALL_SWARM_SEED_READS, 'one seed read at a time');
  });
});
