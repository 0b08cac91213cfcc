import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { OwnerCommittees } from '../../src/swarm/committee.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

async function peerIds(n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()));
}

function makeCommittees(ids: readonly string[], connected: number, known: number | undefined, heardOf?: readonly string[]): { committees: OwnerCommittees; found: Promise<readonly string[]> } {
  let resolve: (members: readonly string[]) => void = () => undefined;
  const promise = new Promise<readonly string[]>((r) => (resolve = r));
  const committees = new OwnerCommittees({
    selfId: ids[0]!,
    size: 4,
    // The DHT names every host in `ids`: the committee is the true one whatever this host is connected to.
    lookup: async function* () {
      yield* ids;
    },
    connected: () => ids.slice(1, 1 + connected),
    ...(known === undefined ? {} : { known: () => known }),
    ...(heardOf === undefined ? {} : { heardOf: () => heardOf }),
    found: (_digest, members) => resolve(members),
  });
  return { committees, found: promise };
}

test('a host connected to fewer members than a committee, but that has heard of more, looks the committee up', async () => {
  const ids = await peerIds(12);
  const { committees, found } = makeCommittees(ids, 2, 11);
  try {
    assert.deepEqual(committees.committee(DIGEST), [], 'no committee yet: the lookup runs (the caller waits rather than rank owners among 2 peers)');
    const members = await found;
    assert.deepEqual(members, committees.closest(DIGEST, ids), 'the committee among every host the lookup named');
    assert.equal(members.length, 4);
  } finally {
    committees.stop();
  }
});

test('a swarm smaller than a committee, heard of and connected, has none: every member owns pieces', async () => {
  const ids = await peerIds(4);
  for (const known of [undefined, 3]) {
    const { committees } = makeCommittees(ids, 3, known);
    assert.equal(committees.committee(DIGEST), undefined);
    committees.stop();
  }
});

test('a lookup that stops early still yields the true committee when the host has heard of every member', async () => {
  const ids = await peerIds(24);
  const truth = (committees: OwnerCommittees) => committees.closest(DIGEST, ids);
  // Two hosts whose lookups stopped at different peers (a busy swarm), both having heard of everyone.
  const views = await Promise.all([ids.slice(0, 8), ids.slice(12, 20)].map(async (named) => {
    const { committees, found } = makeCommittees(named, 2, ids.length - 1, ids);
    committees.committee(DIGEST);
    const members = await found;
    committees.stop();
    return { members, truth: truth(committees) };
  }));
  for (const { members, truth } of views) assert.deepEqual(members, truth, 'the closest among every member heard of, not among those the lookup named');
});

test('a committee is ranked again, without a lookup, once the host hears of more members', async () => {
  const ids = await peerIds(24);
  const heard = new Set(ids.slice(0, 6));
  let lookups = 0;
  const committees = new OwnerCommittees({
    selfId: ids[0]!,
    size: 4,
    lookup: async function* () {
      lookups += 1;
      yield* ids.slice(0, 6);
    },
    connected: () => [],
    known: () => heard.size,
    heardOf: () => heard,
  });
  try {
    committees.committee(DIGEST);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(committees.committee(DIGEST), committees.closest(DIGEST, ids.slice(0, 6)));
    for (const id of ids) heard.add(id);
    assert.deepEqual(committees.committee(DIGEST), committees.closest(DIGEST, ids), 'ranked among every member heard of at once');
    assert.equal(lookups, 1, 'no second lookup needed');
  } finally {
    committees.stop();
  }
});
