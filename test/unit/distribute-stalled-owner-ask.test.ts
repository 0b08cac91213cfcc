// A host that found a piece's owner stalled (crawling-transfer.ts) asks the next owner, and says
// which owner stalled (OwnerAsk.skip): the next owner must not wait for that owner's bytes of the
// piece itself, or the asker waits on the stalled host all the same, one hop further.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { ownerOrder } from '../../src/distribute/piece-choice.ts';
import { ownerAskFromQuery, ownerAskQuery } from '../../src/distribute/peer-client.ts';
import { PieceFailures } from '../../src/distribute/piece-failures.ts';
import { digestOf } from '../../src/oci/index.ts';
import { MemoryNetwork, MemorySwarm } from '../../src/swarm/index.ts';
import { BUSY_GIVE_UP_MS } from '../../src/distribute/piece-limits.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, meshed, REPOSITORY, startFakePeer, startHost, type FakePeer, type Host } from '../helpers/fake-peer.ts';

const MiB = 1024 * 1024;
const STALL_BYTES = 64 * 1024;

test('an owner ask carries the stalled owner it skips, and reads it back; a malformed one is no skip', () => {
  const query = ownerAskQuery({ repository: REPOSITORY, size: 5, from: 'asker', skip: 'stalled-owner' });
  const back = ownerAskFromQuery(Object.fromEntries(new URLSearchParams(query.slice(1))));
  assert.equal(back?.skip, 'stalled-owner');
  assert.equal(ownerAskFromQuery({ repository: REPOSITORY, size: '5', skip: 'x'.repeat(129) })?.skip, undefined);
  assert.equal(ownerAskFromQuery({ repository: REPOSITORY, size: '5' })?.skip, undefined);
});

test('a skip is taken only for the piece\'s own owner, and once per piece', () => {
  const failures = new PieceFailures();
  assert.equal(failures.skipStalledOwner(0, 'holder', 'owner'), false, 'a peer that is not the piece\'s owner here is not skipped');
  assert.equal(failures.stalledOwnerOf(0), undefined);
  assert.equal(failures.skipStalledOwner(0, 'owner', 'owner'), true);
  assert.equal(failures.stalledOwnerOf(0), 'owner');
  assert.equal(failures.skipStalledOwner(0, 'owner', 'owner'), false, 'once per piece: an asker costs at most one more read of it');
  assert.equal(failures.skipStalledOwner(1, 'owner', undefined), false, 'no owner known: nothing skipped');
});

test('asked for a piece with its stalled owner named, the next owner stops reading it from that owner and serves it', { timeout: 60_000 }, async () => {
  const network = new MemoryNetwork();
  const seed = new CountingSeed();
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(...chunk.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)), done()) }));
  let stalled: FakePeer | undefined;
  const hosts: Host[] = [];
  try {
    // A blob whose piece 0 the stalling member owns and this test's host `next` owns after it.
    let content: Buffer;
    let ids: { next: string; asker: string } | undefined;
    for (;;) {
      content = randomBytes(2 * MiB);
      stalled = await startFakePeer(network, content, { kind: 'stall', bytes: STALL_BYTES }, { pieceSize: MiB });
      const digest = digestOf(content).value;
      for (let i = 0; i < 20 && ids === undefined; i++) {
        const candidate = { next: `next-${i}`, asker: `asker-${i}` };
        const members = new Map([stalled.swarm.peerId, candidate.next, candidate.asker].map((id) => [id, { peerId: id, url: undefined }]));
        const order = ownerOrder({ digest, index: 0, size: content.length, pieceSize: MiB, members, balanceOwners: true });
        if (order[0] === stalled.swarm.peerId && order[1] === candidate.next) ids = candidate;
      }
      if (ids !== undefined) break;
      await stalled.close();
    }
    const digest = seed.add(content);
    const next = await startHost({ network, seed, name: 'next', peerId: ids.next, logger, fetcher: { pieceSize: MiB } });
    hosts.push(next);
    const asker = await startHost({ network, seed, name: 'asker', peerId: ids.asker, fetcher: { pieceSize: MiB } });
    hosts.push(asker);
    await meshed([next.swarm, asker.swarm, stalled.swarm]);

    // `next` pulls the blob and reads its pieces from the member holding it, which stalls.
    const pulling = next.fetch(digest).catch(() => undefined);
    await eventually(() => stalled!.sent() >= 2 * STALL_BYTES, 10_000, 'next to read both pieces from the stalling member');

    const response = await fetch(`${next.url}/blobs/${digest.value}${ownerAskQuery({ repository: REPOSITORY, size: content.length, from: ids.asker, skip: stalled.swarm.peerId })}`, { headers: { range: `bytes=0-${MiB - 1}` } });
    assert.equal(response.status, 206);
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(content.subarray(0, MiB)), 'the asker gets piece 0, verified against the blob');
    // Deterministic, whatever the machine's load: the stalled transfer ended because the ask named
    // its owner, not because the slow-holder floor (10 s of too few bytes) dropped it.
    const stopped = lines.filter((l) => JSON.stringify(l.err ?? '').includes(`found ${stalled!.swarm.peerId} stalled`));
    assert.equal(stopped.length, 1, `the transfer of piece 0 from the stalled owner was stopped by the ask; log: ${JSON.stringify(lines.filter((l) => l.piece === 0).slice(-5))}`);
    assert.ok(seed.log.some((read) => read.host === 'next' && read.start < MiB), 'and piece 0 came from the seed: next owns it after the stalled owner');
    await stalled.close();
    assert.ok((await pulling)?.equals(content), 'and next\'s own pull completes once the stalled member is gone');
  } finally {
    await Promise.all(hosts.map((h) => h.close()));
    await stalled?.close();
  }
});

test('the owner the next owner took a piece over from stops its own seed read of it and takes the rest from the next owner', { timeout: 60_000 }, async () => {
  const network = new MemoryNetwork();
  // The owner's seed reads trickle (64 KiB every 400 ms: a starved flow at the seed's link); the others' do not.
  const slowSeed = new CountingSeed({ chunkDelayMs: 400 });
  const seed = new CountingSeed();
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(...chunk.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)), done()) }));
  const content = randomBytes(MiB);
  const digest = seed.add(content);
  slowSeed.add(content);
  let ids: { owner: string; next: string; asker: string } | undefined;
  for (let i = 0; ids === undefined; i++) {
    const candidate = { owner: `owner-${i}`, next: `next-${i}`, asker: `asker-${i}` };
    const members = new Map(Object.values(candidate).map((id) => [id, { peerId: id, url: undefined }]));
    const order = ownerOrder({ digest: digest.value, index: 0, size: content.length, pieceSize: MiB, members, balanceOwners: true });
    if (order[0] === candidate.owner && order[1] === candidate.next) ids = candidate;
  }
  const hosts: Host[] = [];
  try {
    const owner = await startHost({ network, seed: slowSeed, name: 'owner', peerId: ids.owner, logger, fetcher: { pieceSize: MiB } });
    hosts.push(owner);
    hosts.push(await startHost({ network, seed, name: 'asker', peerId: ids.asker, fetcher: { pieceSize: MiB } }));
    const next = await startHost({ network, seed, name: 'next', peerId: ids.next, fetcher: { pieceSize: MiB } });
    hosts.push(next);
    await meshed(hosts.map((h) => h.swarm));

    const pulling = owner.fetch(digest);
    await eventually(() => slowSeed.total() >= 128 * 1024, 20_000, 'the owner to read the start of its piece from the seed');
    // The asker found the owner stalled and asks the next owner, naming it (as crawling-transfer.ts does).
    const response = await fetch(`${next.url}/blobs/${digest.value}${ownerAskQuery({ repository: REPOSITORY, size: content.length, from: ids.asker, skip: ids.owner })}`, { headers: { range: `bytes=0-${MiB - 1}` } });
    assert.equal(response.status, 206);
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(content), 'the asker gets the piece from the next owner');
    assert.ok((await pulling)?.equals(content), 'the owner\'s pull completes, verified');

    assert.equal(seed.served.get('next'), MiB, 'the next owner read the piece from the seed, once');
    // Left alone, the owner's read would have gone on to the piece's end (6.4 s at its pace).
    assert.ok(slowSeed.total() < MiB / 2, `the owner stopped its own seed read when told (it read ${slowSeed.total()} bytes of ${MiB})`);
    assert.equal(lines.filter((l) => String(l.msg).startsWith('a peer reads a piece this host owns from the seed')).length, 1, 'and said so once');
  } finally {
    await Promise.all(hosts.map((h) => h.close()));
  }
});

test('a member that says it took a piece over and then answers only busy is given up after BUSY_GIVE_UP_MS: the owner\'s pull completes', { timeout: 120_000 }, async () => {
  const network = new MemoryNetwork();
  const seed = new CountingSeed({ chunkDelayMs: 100 });
  const content = randomBytes(MiB);
  const digest = seed.add(content);
  // A member with a data plane that answers every request 503, and holds nothing.
  const busy = createServer((_request, response) => void response.writeHead(503, { 'retry-after': '1', 'content-length': 0 }).end());
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  let ids: { owner: string; liar: string } | undefined;
  for (let i = 0; ids === undefined; i++) {
    const candidate = { owner: `owner-${i}`, liar: `liar-${i}` };
    const members = new Map(Object.values(candidate).map((id) => [id, { peerId: id, url: undefined }]));
    if (ownerOrder({ digest: digest.value, index: 0, size: content.length, pieceSize: MiB, members, balanceOwners: true })[0] === candidate.owner) ids = candidate;
  }
  const liar = new MemorySwarm({ network, peerId: ids.liar, inventory: () => [], dataUrl: `http://127.0.0.1:${(busy.address() as AddressInfo).port}`, pieceSize: MiB });
  await liar.start();
  const owner = await startHost({ network, seed, name: 'owner', peerId: ids.owner, fetcher: { pieceSize: MiB } });
  try {
    await meshed([owner.swarm, liar]);
    const started = Date.now();
    const pulling = owner.fetch(digest);
    await eventually(() => seed.total() > 0, 10_000, 'the owner to start reading its piece from the seed');
    liar.tellPieceTaken(ids.owner, digest.value, 0);
    assert.ok((await pulling)?.equals(content), 'the pull completes, verified');
    assert.ok(Date.now() - started >= BUSY_GIVE_UP_MS, 'after the liar had answered busy for that long');
    assert.deepEqual(owner.swarm.penalties().map((p) => p.peerId), [ids.liar], 'the liar is penalised');
  } finally {
    await owner.close();
    await liar.stop();
    busy.close();
  }
});
