import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { OwnerCommittees } from '../../src/swarm/committee.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

async function peerIds(n: number): Promise<string[]> {
  return Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()));
}

function makeCommittees(ids: readonly string[], connected: number, known: number | undefined): { committees: OwnerCommittees; found: Promise<readonly string[]> } {
  let resolve: (members: readonly string[]) => void = () => undefined;
  const promise = new Promise<readonly string[]>((r) => (resolve = r));
  const committees = new OwnerCommittees({
    selfId: ids[0]!,
    size: 4,
    // The DHT names every host: the committee is the true one whatever this host is connected to.
    lookup: async function* () {
      yield* ids;
    },
    connected: () => ids.slice(1, 1 + connected),
    ...(known === undefined ? {} : { known: () => known }),
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
