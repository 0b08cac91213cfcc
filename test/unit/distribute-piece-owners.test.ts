// Piece ownership by swarm membership, on the in-process hosts of fake-peer.ts (real stores, real
// peer data planes on loopback, a MemorySwarm mesh, a counting seed): the seed sends each piece
// about once whatever the timing, owners fetch what they are asked for on demand, a peer that
// joins mid-pull takes its share at once, and the size a fetch trusts comes from the seed.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, test } from 'node:test';
import { ownerRanking, rankOwners } from '../../src/distribute/owners.ts';
import { digestOf, OciError, type Digest } from '../../src/oci/index.ts';
import { MemoryNetwork, MemorySwarm } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, meshed, REPOSITORY, startHost, type Host, type HostInit } from '../helpers/fake-peer.ts';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('distribute: piece owners by membership', { timeout: 120_000 }, () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((x) => x.close()));
  });

  async function host(network: MemoryNetwork, seed: CountingSeed, name: string, init: Partial<HostInit> = {}): Promise<Host> {
    const started = await startHost({ network, seed, name, fetcher: { pieceSize: MiB }, ...init });
    open.push(started);
    return started;
  }

  function report(what: string, seed: CountingSeed, size: number): number {
    const ratio = seed.total() / size;
    console.log(`# ${what}: seed sent ${ratio.toFixed(4)} x the blob; per host ${JSON.stringify(Object.fromEntries(seed.served))}`);
    return ratio;
  }

  /**
   * Ownership follows the digest: with a few pieces over few hosts, a random blob may give `owner`
   * none of them (or all), and a test about what it owns would prove nothing. Adds
   * random blobs of `pieces` MiB to the seed until `owner` owns some pieces but not all.
   */
  function blobOwnedInPart(seed: CountingSeed, pieces: number, members: readonly string[], owner: string): { content: Buffer; digest: Digest; owned: number } {
    for (;;) {
      const content = randomBytes(pieces * MiB);
      const digest = seed.add(content);
      const owned = Array.from({ length: pieces }, (_, i) => ownerRanking(digest.value, i, pieces, members)[0]).filter((o) => o === owner).length;
      if (owned > 0 && owned < pieces) return { content, digest, owned };
    }
  }

  test('a lone host reads the whole blob from the seed in one request', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(9 * MiB + 3);
    const digest = seed.add(content);
    const a = await host(network, seed, 'a');
    assert.ok((await a.fetch(digest))?.equals(content));
    assert.deepEqual(seed.log.map((r) => [r.start, r.end]), [[0, content.length - 1]], 'one range, not one request per piece');
    assert.equal(seed.total(), content.length);
  });

  test('hosts that start pulling at random moments 0-1.5 s apart: the seed sends each piece once', async () => {
    for (let round = 0; round < 3; round++) {
      const network = new MemoryNetwork();
      const seed = new CountingSeed({ chunkDelayMs: 2 });
      const content = randomBytes(16 * MiB);
      const digest = seed.add(content);
      const hosts = [await host(network, seed, 'a'), await host(network, seed, 'b'), await host(network, seed, 'c'), await host(network, seed, 'd')];
      await meshed(hosts.map((h) => h.swarm));
      const got = await Promise.all(hosts.map(async (h) => {
        await sleep(randomInt(1_500));
        return h.fetch(digest);
      }));
      for (const bytes of got) assert.ok(bytes?.equals(content));
      const ratio = report(`round ${round}, 4 hosts starting 0-1.5 s apart`, seed, content.length);
      assert.ok(ratio <= 1.02, `seed egress ${ratio.toFixed(3)}x`);
      await Promise.all(open.splice(0).map((x) => x.close()));
    }
  });

  test('four hosts pull a blob rendezvous alone would give one of them most of: each asks the seed for at most its share', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const hosts = [await host(network, seed, 'a'), await host(network, seed, 'b'), await host(network, seed, 'c'), await host(network, seed, 'd')];
    await meshed(hosts.map((h) => h.swarm));
    const members = hosts.map((h) => h.swarm.peerId);
    const pieces = 16;
    const share = Math.ceil(pieces / hosts.length) * MiB;
    let blob: { content: Buffer; digest: Digest };
    do {
      const content = randomBytes(pieces * MiB);
      blob = { content, digest: seed.add(content) };
    } while (Math.max(...members.map((m) => Array.from({ length: pieces }, (_, i) => rankOwners(blob.digest.value, i, members)[0]).filter((o) => o === m).length)) * MiB <= share);
    const got = await Promise.all(hosts.map((h) => h.fetch(blob.digest)));
    for (const bytes of got) assert.ok(bytes?.equals(blob.content));
    report('4 hosts, owners balanced', seed, blob.content.length);
    for (const name of ['a', 'b', 'c', 'd']) assert.ok((seed.served.get(name) ?? 0) <= share, `${name} took ${(seed.served.get(name) ?? 0) / MiB} MiB from the seed (its share: ${share / MiB})`);
    assert.equal(seed.total(), blob.content.length);
  });

  test('a host that joins mid-pull owns pieces at once; the seed still sends about once', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed({ chunkDelayMs: 4 });
    const content = randomBytes(24 * MiB);
    const digest = seed.add(content);
    const first = [await host(network, seed, 'a'), await host(network, seed, 'b'), await host(network, seed, 'c')];
    await meshed(first.map((h) => h.swarm));
    const pulls = first.map((h) => h.fetch(digest));
    await eventually(() => first.some((h) => h.stats.bytesFromSeed > 2 * MiB), 20_000, 'the pull to be under way');
    const joinedAt = Date.now();
    const late = await host(network, seed, 'late');
    await meshed([...first, late].map((h) => h.swarm));
    const lateGot = await late.fetch(digest);
    for (const bytes of [...(await Promise.all(pulls)), lateGot]) assert.ok(bytes?.equals(content));
    const ratio = report('3 hosts pulling, a 4th joining mid-pull', seed, content.length);
    if (process.env.DEBUG_DUPS) {
      const seen = new Map<number, string[]>();
      for (const r of seed.log) seen.set(r.start, [...(seen.get(r.start) ?? []), `${r.host}@${r.at - joinedAt}`]);
      for (const [start, who] of seen) if (who.length > 1) console.log(`# dup piece ${start / MiB}: ${who.join(' ')}`);
    }
    assert.ok((seed.served.get('late') ?? 0) > 0 || late.stats.bytesFromPeers === content.length, 'the late host took part');
    assert.ok(ratio <= 1.02, `seed egress ${ratio.toFixed(3)}x`);
  });

  test('a host joins while an owner waits seconds for the seed to answer: the piece on its way is not read again by its new owner', async () => {
    // Owners move when a host joins. A seed read is told as it starts, not when the busy seed
    // answers; else a host asking for the piece then asks its new owner, which reads it again.
    const network = new MemoryNetwork();
    // 3 s: room for the join and b's first asks before a's read opens, on a busy machine too.
    const seed = new CountingSeed({ openDelayMs: 3_000 });
    const [a, b, c] = [await host(network, seed, 'a'), await host(network, seed, 'b'), await host(network, seed, 'c')];
    const lateId = `12D3KooWlate${randomBytes(16).toString('hex')}`;
    const before = [a, b, c].map((h) => h.swarm.peerId);
    const after = [...before, lateId];
    const pieces = 8;
    // A blob whose piece 0 is a's now and the joiner's once it joins (about one in 12): varied by its first bytes.
    const content = randomBytes(pieces * MiB);
    let digest: Digest;
    for (let salt = 0; ; salt++) {
      content.writeUInt32BE(salt, 0);
      digest = digestOf(content);
      if (ownerRanking(digest.value, 0, pieces, before)[0] === a.swarm.peerId && ownerRanking(digest.value, 0, pieces, after)[0] === lateId) break;
    }
    seed.add(content);
    await meshed([a, b, c].map((h) => h.swarm));
    const pulls = [a.fetch(digest)];
    await eventually(() => seed.log.some((r) => r.host === 'a' && r.start === 0), 20_000, "a's seed read of piece 0 to start");
    const late = await host(network, seed, 'late', { peerId: lateId });
    await meshed([a, b, c, late].map((h) => h.swarm));
    pulls.push(b.fetch(digest));
    for (const bytes of await Promise.all(pulls)) assert.ok(bytes?.equals(content));
    const ratio = report('an owner waiting on a slow seed, a 4th host joining', seed, content.length);
    const readers = seed.log.filter((r) => r.start === 0).map((r) => r.host);
    assert.deepEqual(readers, ['a'], 'piece 0 read from the seed once, by its owner when the read started');
    assert.equal(ratio, 1);
  });

  test('an owner that does not want the blob fetches the pieces it is asked for, keeps them, and drops them when unused', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const a = await host(network, seed, 'a');
    // Kept long enough to outlast a's last own seed reads (one at a time in a small swarm) and its verification on a busy machine.
    const b = await host(network, seed, 'b', { fetcher: { pieceSize: MiB, keepPiecesMs: 1_500 } });
    await meshed([a.swarm, b.swarm]);
    const { content, digest, owned } = blobOwnedInPart(seed, 8, [a.swarm.peerId, b.swarm.peerId], b.swarm.peerId);
    assert.ok((await a.fetch(digest))?.equals(content));
    const fromB = seed.served.get('b') ?? 0;
    assert.equal(fromB, owned * MiB, 'b fetched exactly the pieces it owns');
    assert.equal(a.stats.fromPeer.get(b.swarm.peerId), fromB, 'and a got them from b');
    assert.equal(seed.total(), content.length, 'nothing twice');
    assert.equal(await b.store.blobs.stat(digest), undefined, 'b never committed a blob it did not want');
    assert.ok((await b.tmpFiles()).length > 0, 'b keeps the pieces it owns');
    // Unused for longer than keepPiecesMs: the piece cache goes.
    await eventually(async () => (await b.tmpFiles()).length === 0, 10_000, "b's piece cache to expire");
    assert.equal(b.fetcher.partial(digest), undefined);
  });

  test('an owner whose seed fails: the asker falls back to the next owner or the seed and completes', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const a = await host(network, seed, 'a');
    const broken = new CountingSeed(); // b's seed has nothing
    const b = await host(network, broken, 'b');
    await meshed([a.swarm, b.swarm]);
    const { content, digest } = blobOwnedInPart(seed, 6, [a.swarm.peerId, b.swarm.peerId], b.swarm.peerId);
    assert.ok((await a.fetch(digest))?.equals(content));
    assert.equal(seed.total(), content.length, 'every byte once, from the seed a can reach');
    assert.deepEqual(a.swarm.penalties(), [], 'an owner that answered honestly is not penalised');
  });

  test('a peer that announces a blob with the wrong size is penalised; the fetch uses the seed size', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(2 * MiB);
    const digest = seed.add(content);
    const liar = new MemorySwarm({ network, inventory: () => [{ digest: digest.value, size: content.length + 1 }], dataUrl: 'http://127.0.0.1:9' });
    await liar.start();
    open.push({ close: () => liar.stop() });
    const a = await host(network, seed, 'a');
    await meshed([liar, a.swarm]);
    assert.ok((await a.fetch(digest))?.equals(content));
    const penalty = a.swarm.penalties().find((p) => p.peerId === liar.peerId);
    assert.ok(penalty, 'the liar is penalised');
    assert.match(penalty.reason, /announced .* as \d+ bytes/);
    assert.equal(seed.heads.get('a'), 1, 'the size came from a HEAD at the seed');
  });

  test('an owner asked for a blob another peer announces with the asked size starts at once, without a HEAD at the seed', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const a = await host(network, seed, 'a');
    const c = await host(network, seed, 'c');
    const { content, digest } = blobOwnedInPart(seed, 6, [a.swarm.peerId, c.swarm.peerId], c.swarm.peerId);
    // A peer announcing the blob with its size (its data plane is gone: a tries it, then the owners).
    const witness = new MemorySwarm({ network, inventory: () => [{ digest: digest.value, size: content.length }], dataUrl: 'http://127.0.0.1:9' });
    await witness.start();
    open.push({ close: () => witness.stop() });
    await meshed([witness, a.swarm, c.swarm]);
    assert.ok((await a.fetch(digest))?.equals(content));
    assert.ok((seed.served.get('c') ?? 0) > 0, 'c fetched the pieces it owns');
    assert.equal(seed.heads.get('c') ?? 0, 0, "c took the asked size on the witness's word: no HEAD behind the seed's busy link");
    assert.equal(seed.total(), content.length, 'nothing twice');
  });

  test('holders that disagree on the size and no seed: the fetch does not start', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(MiB);
    const digest = seed.add(content);
    const one = new MemorySwarm({ network, inventory: () => [{ digest: digest.value, size: content.length }], dataUrl: 'http://127.0.0.1:9' });
    const two = new MemorySwarm({ network, inventory: () => [{ digest: digest.value, size: content.length + 5 }], dataUrl: 'http://127.0.0.1:9' });
    await Promise.all([one.start(), two.start()]);
    open.push({ close: () => one.stop() }, { close: () => two.stop() });
    const a = await host(network, seed, 'a', { seeded: false });
    await meshed([one, two, a.swarm]);
    assert.equal(await a.fetcher.fetch({ name: REPOSITORY, digest }), undefined);
  });

  test('a peer with another piece size is a holder, never an owner', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const a = await host(network, seed, 'a');
    const other = await host(network, seed, 'other', { fetcher: { pieceSize: 2 * MiB } });
    await meshed([a.swarm, other.swarm]);
    // A blob the other host would own pieces of, were it a member.
    const { content, digest } = blobOwnedInPart(seed, 8, [a.swarm.peerId, other.swarm.peerId], other.swarm.peerId);
    assert.equal(a.swarm.peers()[0]?.pieceSize, 2 * MiB, 'the piece size travels in hello');
    assert.ok((await a.fetch(digest))?.equals(content));
    assert.equal(seed.served.get('other') ?? 0, 0, 'the other host was never asked as an owner');
    assert.equal(seed.served.get('a'), content.length);
  });

  test('an owner ask with a size the seed contradicts is refused, and nothing is reserved for it', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(MiB);
    const digest = seed.add(content);
    const a = await host(network, seed, 'a');
    const read = await a.fetcher.forPeer(digest, { repository: REPOSITORY, size: 1024 * 1024 * MiB }, '127.0.0.1');
    assert.ok(read, 'the asker gets its answer at once; the size is checked before any byte');
    const stream = read.read({ start: 0, end: 99 });
    await assert.rejects(async () => {
      for await (const _ of stream) assert.fail('no byte for a size the seed contradicts');
    }, (e: unknown) => e instanceof OciError && e.code === 'SIZE_INVALID');
    assert.equal(a.store.blobs.usage.reservedBytes, 0, 'no terabyte reserved on a peer\'s word');
    assert.equal(a.fetcher.partial(digest), undefined);
  });

  test('an owner ask with a size that contradicts the blob being fetched is refused', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed({ chunkDelayMs: 20 });
    const content = randomBytes(4 * MiB);
    const digest = seed.add(content);
    const a = await host(network, seed, 'a');
    const partial = await a.fetcher.fetch({ name: REPOSITORY, digest });
    assert.ok(partial);
    await assert.rejects(a.fetcher.forPeer(digest, { repository: REPOSITORY, size: content.length + 1 }, '127.0.0.1'), (e: unknown) => e instanceof OciError && e.code === 'SIZE_INVALID');
    await partial.done();
    await eventually(() => a.stats.blobsFetched === 1, 5_000, 'the fetch to finish');
  });

  test('each blob\'s "fetched and verified" line counts that fetch\'s bytes, not the host\'s (issue 10, item 15)', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed({ chunkDelayMs: 1 });
    const blobs = [randomBytes(3 * MiB + 11), randomBytes(2 * MiB + 7)];
    const digests = blobs.map((b) => seed.add(b));
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(...chunk.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)), done()) }));
    const a = await host(network, seed, 'a', { logger });
    await Promise.all(digests.map((d) => a.fetch(d)));
    // Each line is written once its fetch is linked, a moment after the bytes are readable.
    await eventually(() => lines.filter((l) => l.msg === 'blob fetched and verified').length === 2, 5_000, 'both fetches to log');
    const fetched = lines.filter((l) => l.msg === 'blob fetched and verified');
    for (const [i, digest] of digests.entries()) {
      const line = fetched.find((l) => l.digest === digest.value)!;
      assert.equal(line.bytes, blobs[i]!.length);
      assert.equal(Number(line.fromSeed) + Number(line.fromPeers), blobs[i]!.length, `${JSON.stringify(line)}: this fetch's bytes only, though both ran at once`);
    }
  });

  test('an owner ask by HEAD starts nothing; by GET with a bad size or repository it is refused with the spec error', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(MiB);
    const digest = seed.add(content);
    const a = await host(network, seed, 'a');
    // Asked by a member (only members' asks are taken: peer-members.ts), so what is checked is the ask itself.
    const b = await host(network, seed, 'b');
    await meshed([a.swarm, b.swarm]);
    const ask = (query: string, method = 'GET') => fetch(`${a.url}/blobs/${digest.value}?${query}&from=${b.swarm.peerId}`, { method, headers: { range: 'bytes=0-99' } });
    assert.equal((await ask(`repository=${REPOSITORY}&size=${content.length}`, 'HEAD')).status, 404);
    assert.equal(a.fetcher.partial(digest), undefined, 'no piece cache for a HEAD');
    assert.equal(seed.heads.get('a') ?? 0, 0, 'the seed was not asked');
    const badSize = await ask(`repository=${REPOSITORY}&size=lots`);
    assert.equal(badSize.status, 400);
    assert.equal(((await badSize.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'SIZE_INVALID');
    const badName = await ask(`repository=..%2Fetc&size=${content.length}`);
    assert.equal(badName.status, 400);
    assert.equal(((await badName.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'NAME_INVALID');
    assert.equal(a.fetcher.partial(digest), undefined);
  });
});
