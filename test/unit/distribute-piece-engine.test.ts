// Several shoal hosts in one process, on real loopback sockets: each with its own store, peer
// data plane (buildPeerApp) and Fetcher, joined by a MemorySwarm on one MemoryNetwork, and one
// counting in-memory seed. What is checked is where the bytes came from and that only verified
// bytes are ever committed.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterEach, describe, test } from 'node:test';
import { LIAR_BAN_MS, SEED_FIRST_PEER_PIECES } from '../../src/distribute/piece-limits.ts';
import { SLOW_WINDOW_MS } from '../../src/distribute/slow-source.ts';
import { OciError, digestOf } from '../../src/oci/index.ts';
import { MemoryNetwork } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, meshed, REPOSITORY, startFakePeer, startHost, type FakePeer, type Host, type HostInit } from '../helpers/fake-peer.ts';

const MiB = 1024 * 1024;

describe('distribute: fetching a blob across hosts (the piece engine over the peer data plane)', { timeout: 120_000 }, () => {
  const open: Array<Host | FakePeer> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((x) => x.close()));
  });

  async function hosts(network: MemoryNetwork, seed: CountingSeed, names: readonly string[], init: Partial<HostInit> = {}): Promise<Host[]> {
    const started: Host[] = [];
    for (const name of names) {
      const host = await startHost({ network, seed, name, ...init });
      open.push(host);
      started.push(host);
    }
    return started;
  }

  async function fake(...args: Parameters<typeof startFakePeer>): Promise<FakePeer> {
    const peer = await startFakePeer(...args);
    open.push(peer);
    return peer;
  }

  /** Every blob in the host's store is stored under its own sha256, and only the expected ones are there. */
  async function assertOnlyVerified(host: Host, expected: readonly string[]): Promise<void> {
    const stored: string[] = [];
    for await (const { digest } of host.store.blobs.list()) {
      const bytes = await readFile(host.store.blobs.path(digest));
      assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, digest.value, `${host.name} stores ${digest.value} with other bytes`);
      stored.push(digest.value);
    }
    assert.deepEqual(stored.sort(), [...expected].sort());
    assert.deepEqual(await host.tmpFiles(), [], `${host.name} left temp files`);
  }

  test('a host fetches a blob another host holds completely: every byte from that peer, none from the seed', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(6 * MiB + 12_345);
    const digest = seed.add(content);
    const [a] = await hosts(network, seed, ['a'], { holds: [content], fetcher: { pieceSize: MiB } });
    const [b] = await hosts(network, seed, ['b'], { fetcher: { pieceSize: MiB } });
    await meshed([a!.swarm, b!.swarm]);
    assert.deepEqual(b!.swarm.holders(digest.value).map((h) => [h.peerId, h.complete, h.size]), [[a!.swarm.peerId, true, content.length]]);

    const got = await b!.fetch(digest);
    assert.ok(got?.equals(content), 'verified bytes stored');
    assert.equal(seed.served.get('b') ?? 0, 0, 'nothing from the seed');
    assert.equal(seed.opens.get('b') ?? 0, 0, 'the seed was not even asked');
    assert.equal(b!.stats.bytesFromSeed, 0);
    assert.equal(b!.stats.bytesFromPeers, content.length);
    assert.equal(b!.stats.fromPeer.get(a!.swarm.peerId), content.length);
    assert.equal(b!.stats.blobsFetched, 1);
    await eventually(() => a!.stats.bytesServedToPeers === content.length, 2_000, 'a to count what it served');
    // No manifest was pulled into that repository here: a blob fetched under its name is not linked (distribute-fetch-links.test.ts).
    assert.equal(await b!.store.repositories.exists(REPOSITORY), false, 'no repository made by a blob fetch alone');
    await assertOnlyVerified(b!, [digest.value]);
    // The commit is announced: a now sees b as a complete holder.
    await eventually(() => a!.swarm.holders(digest.value).some((h) => h.peerId === b!.swarm.peerId && h.complete), 2_000, 'b announced as a holder');
  });

  test('4 hosts fetch the same 24 MiB blob at the same moment: all verified, the seed sends it about once, every host gets bytes from peers', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(24 * MiB);
    const digest = seed.add(content);
    const all = await hosts(network, seed, ['a', 'b', 'c', 'd'], { fetcher: { pieceSize: MiB } });
    await meshed(all.map((h) => h.swarm));

    const got = await Promise.all(all.map((h) => h.fetch(digest)));
    for (const [i, bytes] of got.entries()) assert.ok(bytes?.equals(content), `${all[i]!.name} has the verified blob`);
    const total = seed.total();
    const ratio = total / content.length;
    if (process.env.SHOAL_TEST_LOG) for (const r of seed.log) console.log(r.host, r.start / MiB, (r.end + 1) / MiB, r.at - seed.log[0]!.at);
    console.log(
      `4 hosts, ${content.length / MiB} MiB blob, 1 MiB pieces: seed sent ${total} bytes = ${ratio.toFixed(4)} x the blob; per host ${JSON.stringify(Object.fromEntries(seed.served))};` +
        ` from peers ${JSON.stringify(Object.fromEntries(all.map((h) => [h.name, h.stats.bytesFromPeers])))}`,
    );
    assert.ok(ratio <= 1.05, `seed egress ${ratio.toFixed(3)} x the blob size`);
    for (const host of all) {
      assert.ok(host.stats.bytesFromPeers > 0, `${host.name} got bytes from peers`);
      assert.equal(host.stats.bytesFromPeers + host.stats.bytesFromSeed >= content.length, true);
      assert.equal(host.stats.verificationFailures, 0);
      await assertOnlyVerified(host, [digest.value]);
    }
  });

  test('a lone host (no peers) streams the blob from the seed', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(3 * MiB + 1);
    const digest = seed.add(content);
    const [a] = await hosts(network, seed, ['a'], { fetcher: { pieceSize: MiB } });
    assert.deepEqual(a!.swarm.peers(), []);
    const got = await a!.fetch(digest);
    assert.ok(got?.equals(content));
    assert.equal(seed.served.get('a'), content.length, 'every byte once from the seed');
    assert.equal(a!.stats.bytesFromSeed, content.length);
    assert.equal(a!.stats.bytesFromPeers, 0);
    await assertOnlyVerified(a!, [digest.value]);
  });

  test('concurrent requests for one digest on one host share one fetch', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(2 * MiB);
    const digest = seed.add(content);
    const [a] = await hosts(network, seed, ['a'], { fetcher: { pieceSize: MiB } });
    const first = a!.fetcher.fetch({ name: REPOSITORY, digest });
    const second = a!.fetcher.fetch({ name: REPOSITORY, digest });
    assert.equal(first, second);
    assert.equal(a!.fetcher.inflightCount, 1);
    const partial = await first;
    await partial!.done();
    assert.equal(seed.served.get('a'), content.length);
    await eventually(() => a!.fetcher.inflightCount === 0, 2_000, 'the fetch to be forgotten');
    assert.equal(await a!.fetcher.fetch({ name: REPOSITORY, digest }), undefined, 'local now: nothing to fetch');
  });

  const liars = [
    { what: 'every byte flipped', corrupt: (bytes: Buffer) => bytes.map((b) => b ^ 0x5a) as Buffer },
    {
      what: 'one byte of piece 2 flipped',
      corrupt: (bytes: Buffer, start: number) => {
        const at = 2 * MiB + 100 - start;
        if (at >= 0 && at < bytes.length) bytes[at]! ^= 1;
        return bytes;
      },
    },
  ];
  for (const { what, corrupt } of liars) {
    test(`a liar (${what}): the fetch completes with the right bytes, the liar is banned, nothing corrupt is committed`, async () => {
      const network = new MemoryNetwork();
      const seed = new CountingSeed();
      const content = randomBytes(5 * MiB + 777);
      const digest = seed.add(content);
      const liar = await fake(network, content, { kind: 'corrupt', corrupt });
      const [b] = await hosts(network, seed, ['b'], { fetcher: { pieceSize: MiB } });
      await meshed([liar.swarm, b!.swarm]);
      const committed: string[] = [];
      b!.store.blobs.onCommitted((d) => committed.push(d.value));

      const got = await b!.fetch(digest);
      assert.ok(got?.equals(content), 'the right bytes');
      assert.ok(liar.sent() > 0, 'the liar was asked');
      const penalty = b!.swarm.penalties().find((p) => p.peerId === liar.swarm.peerId);
      assert.ok(penalty, 'the liar is penalised');
      assert.match(penalty.reason, /failed verification/);
      assert.ok(penalty.until - Date.now() > LIAR_BAN_MS - 60_000, 'banned for the liar ban, not a short failure penalty');
      assert.deepEqual(b!.swarm.holders(digest.value).filter((h) => h.peerId === liar.swarm.peerId), [], 'no longer offered as a source');
      assert.equal(b!.stats.verificationFailures, 1);
      assert.deepEqual(committed, [digest.value], 'committed once, after verification');
      await assertOnlyVerified(b!, [digest.value]);
    });
  }

  test('a peer that dies mid-piece: the fetch completes from another holder (no seed), resuming the broken piece', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(6 * MiB + 5);
    const digest = seed.add(content);
    const dying = await fake(network, content, { kind: 'die', afterBytes: MiB + MiB / 2 });
    const [a] = await hosts(network, seed, ['a'], { holds: [content], fetcher: { pieceSize: MiB } });
    const [b] = await hosts(network, seed, ['b'], { seeded: false, fetcher: { pieceSize: MiB } });
    await meshed([dying.swarm, a!.swarm, b!.swarm]);

    const got = await b!.fetch(digest);
    assert.ok(got?.equals(content));
    assert.equal(dying.dead(), true, 'the peer died during the fetch');
    assert.ok(b!.stats.fromPeer.get(dying.swarm.peerId)! > 0, 'bytes came from the dying peer before it died');
    assert.equal(b!.stats.bytesFromSeed, 0);
    assert.equal(b!.stats.bytesFromPeers, content.length, 'a broken piece resumes where it stopped: no byte twice');
    assert.equal(seed.total(), 0);
    await assertOnlyVerified(b!, [digest.value]);
  });

  test('a peer that dies mid-piece: the fetch completes from the seed when it was the only holder', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(4 * MiB + 5);
    const digest = seed.add(content);
    const dying = await fake(network, content, { kind: 'die', afterBytes: MiB / 2 });
    const [b] = await hosts(network, seed, ['b'], { fetcher: { pieceSize: MiB } });
    await meshed([dying.swarm, b!.swarm]);

    const got = await b!.fetch(digest);
    assert.ok(got?.equals(content));
    assert.equal(dying.dead(), true);
    assert.ok(b!.stats.bytesFromSeed > 0 && b!.stats.bytesFromSeed <= content.length, 'the rest from the seed');
    assert.equal(b!.stats.bytesFromSeed + b!.stats.bytesFromPeers, content.length, 'a broken piece resumes where it stopped: no byte twice');
    await assertOnlyVerified(b!, [digest.value]);
  });

  test('no seed and no holder: the fetch finds nothing, leaves nothing', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(MiB);
    const digest = digestOf(content); // not even the seed has it
    const [a, b] = await hosts(network, seed, ['a', 'b'], { seeded: false, fetcher: { pieceSize: MiB / 4 } });
    await meshed([a!.swarm, b!.swarm]);
    assert.equal(await b!.fetcher.fetch({ name: REPOSITORY, digest }), undefined);
    assert.equal(b!.fetcher.inflightCount, 0);
    await assertOnlyVerified(b!, []);
  });

  test('no seed and the only holder cannot serve: the fetch fails with an OciError and leaves no temp file', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(2 * MiB);
    const digest = digestOf(content);
    const broken = await fake(network, content, { kind: 'unreachable' });
    const [b] = await hosts(network, seed, ['b'], { seeded: false, fetcher: { pieceSize: MiB / 2 } });
    await meshed([broken.swarm, b!.swarm]);

    const partial = await b!.fetcher.fetch({ name: REPOSITORY, digest });
    assert.ok(partial, 'the holder announced the blob, so a fetch starts');
    const error = await partial.done().then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof OciError, `an OciError, got ${String(error)}`);
    assert.equal(error.code, 'UNAVAILABLE');
    assert.equal(partial.state, 'failed');
    assert.ok(b!.swarm.penalties().some((p) => p.peerId === broken.swarm.peerId), 'the holder that failed is penalised');
    await eventually(async () => (await b!.tmpFiles()).length === 0, 2_000, 'the temp file to be removed');
    await eventually(() => b!.fetcher.inflightCount === 0, 2_000, 'the fetch to be forgotten');
    assert.equal(b!.stats.blobsFailed, 1);
    await assertOnlyVerified(b!, []);
  });
});

describe('distribute: seed reads first on a host downlink', { timeout: 60_000 }, () => {
  test('while a host reads from the seed, it takes at most SEED_FIRST_PEER_PIECES pieces from peers at once', async () => {
    const network = new MemoryNetwork();
    // The seed's blob arrives slowly (64 KiB every 40 ms: 2 MiB in about 1.3 s) while the peers' blob is fetched.
    const seed = new CountingSeed({ chunkDelayMs: 40 });
    const fresh = randomBytes(2 * MiB);
    const freshDigest = seed.add(fresh);
    const held = randomBytes(6 * MiB);
    const heldDigest = seed.add(held);
    const host = await startHost({ network, seed, name: 'x', fetcher: { pieceSize: MiB } });
    // Holders that own no pieces (no piece size announced): the seed's blob is this host's alone.
    const holders = await Promise.all([1, 2, 3].map(() => startFakePeer(network, held, { kind: 'trickle', chunkDelayMs: 20 })));
    try {
      await eventually(() => host.swarm.holders(heldDigest.value).length === 3, 5_000, 'three holders of the peers blob');
      const fromSeed = host.fetch(freshDigest);
      await eventually(() => (seed.opens.get('x') ?? 0) > 0, 5_000, 'the seed read to start');
      let atOnce = 0;
      // Until the seed has sent its last byte (the seed read may end a moment later: fewer peer transfers still).
      const sampler = setInterval(() => {
        if ((seed.served.get('x') ?? 0) < fresh.length) atOnce = Math.max(atOnce, holders.reduce((sum, h) => sum + h.answering(), 0));
      }, 5);
      const fromPeers = host.fetch(heldDigest);
      assert.ok((await fromSeed)?.equals(fresh), 'the seed blob, verified');
      assert.ok((await fromPeers)?.equals(held), 'the peers blob, verified');
      clearInterval(sampler);
      assert.equal(seed.served.get('x'), fresh.length, 'the peers blob came from the peers alone');
      assert.ok(atOnce > 0, 'peer transfers ran beside the seed read');
      assert.ok(atOnce <= SEED_FIRST_PEER_PIECES, `${atOnce} peer transfers at once beside a seed read`);
    } finally {
      await Promise.all([host.close(), ...holders.map((h) => h.close())]);
    }
  });
});

describe('distribute: a whole-blob holder too slow or silent to serve', { timeout: 120_000 }, () => {
  for (const behaviour of [{ kind: 'trickle', chunkDelayMs: 1_000 }, { kind: 'stall', bytes: 100 * 1024 }] as const) {
    test(`${behaviour.kind}: dropped after SLOW_WINDOW_MS, penalised and not asked again as holder or owner; the pieces resume from the seed, no byte twice`, async () => {
      const network = new MemoryNetwork();
      const seed = new CountingSeed();
      const content = randomBytes(4 * MiB);
      const digest = seed.add(content);
      // A member (it owns pieces) that holds the whole blob and serves it at 16 KiB/s, or not at all.
      const bad = await startFakePeer(network, content, behaviour, { pieceSize: MiB });
      const host = await startHost({ network, seed, name: 'b', fetcher: { pieceSize: MiB } });
      try {
        await meshed([host.swarm, bad.swarm]);
        const started = Date.now();
        const fetched = await host.fetch(digest);
        const ms = Date.now() - started;
        assert.ok(fetched?.equals(content), 'verified');
        assert.ok(host.swarm.isPenalised(bad.swarm.peerId), 'the slow holder is penalised');
        const askedAtFirst = bad.requests();
        assert.ok(askedAtFirst <= 4, `${askedAtFirst} requests to the slow holder: its first transfers only`);
        assert.ok(ms < SLOW_WINDOW_MS + 25_000, `${ms} ms: one window, not an idle timeout per piece`);
        assert.ok(seed.total() <= content.length, `the seed sent ${seed.total()} bytes of ${content.length}: the pieces resumed where the holder stopped`);
      } finally {
        await Promise.all([host.close(), bad.close()]);
      }
    });
  }
});
