// A host reading from the seed a piece another member owns tells that owner, which stops its own
// seed read of the piece and asks the reader for it (piece-takeover.ts): the seed sends the rest of
// the piece once. The whole exchange between hosts: distribute-stalled-owner-ask.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { PieceFailures } from '../../src/distribute/piece-failures.ts';
import type { PieceSourcing } from '../../src/distribute/piece-sourcing.ts';
import { PieceTakeover } from '../../src/distribute/piece-takeover.ts';
import { PieceTransfers } from '../../src/distribute/piece-transfers.ts';
import { digestOf } from '../../src/oci/index.ts';
import type { SwarmView } from '../../src/swarm/index.ts';
import { tempStorePerTest } from '../helpers/temp-store.ts';

const MiB = 1024 * 1024;

describe('PieceTakeover', () => {
  const temp = tempStorePerTest('shoal-taken-');
  const silent = pino({ level: 'silent' });

  /** A 2 MiB blob in 1 MiB pieces, members 'me' and 'next', piece 0 owned by `ownerOfPiece` and read here from `readFrom`. */
  async function setUp(ownerOfPiece = 'me', readFrom: 'seed' | 'holder' = 'seed') {
    const content = randomBytes(2 * MiB);
    const partial = await temp.store.blobs.createPartial(digestOf(content), content.length, MiB);
    const transfers = new PieceTransfers();
    const failures = new PieceFailures();
    const read = transfers.begin({ id: readFrom === 'seed' ? 'seed' : 'holder-h', kind: readFrom, open: () => Promise.reject(new Error('not opened here')) }, [0], false);
    const sourcing = { selfId: 'me', owner: () => ownerOfPiece, isMember: (id: string) => id === 'me' || id === 'next' } as unknown as PieceSourcing;
    const told: Array<[string, string, number]> = [];
    const swarm = { tellPieceTaken: (owner: string, digest: string, piece: number) => told.push([owner, digest, piece]) } as unknown as SwarmView;
    const takeover = new PieceTakeover({ partial, transfers, sourcing, failures, logger: silent, swarm });
    return { partial, failures, read, takeover, told };
  }

  test('a seed read of a piece another member owns tells that owner, once; one of its own tells nobody', async () => {
    const theirs = await setUp('next');
    theirs.takeover.seedReadStarts(0);
    theirs.takeover.seedReadStarts(0);
    assert.deepEqual(theirs.told, [['next', theirs.partial.digest.value, 0]]);
    const mine = await setUp('me');
    mine.takeover.seedReadStarts(0);
    assert.deepEqual(mine.told, []);
    await Promise.all([theirs.partial.fail(new Error('test over')), mine.partial.fail(new Error('test over'))]);
  });

  test('told, the owner stops its own seed read of the piece and asks the reader for it, skipping itself as owner', async () => {
    const { partial, failures, read, takeover } = await setUp();
    takeover.takenOver(0, 'next');
    assert.equal(read.controller.signal.aborted, true);
    assert.equal(failures.takenByOf(0), 'next');
    assert.equal(failures.stalledOwnerOf(0), 'me', 'excluded as its owner, named as skipped in its ask (piece-choice.ts)');
    assert.equal(failures.movedOffOf(0), undefined, 'still a holder to its peers: they may have the piece arriving from it');
    await partial.fail(new Error('test over'));
  });

  test('not from a peer that is no member, nor from itself, nor for a piece it does not own or past the blob\'s end; once per piece', async () => {
    for (const [by, owner] of [['stranger', 'me'], ['me', 'me'], ['next', 'next']] as const) {
      const { partial, failures, read, takeover } = await setUp(owner);
      takeover.takenOver(0, by);
      assert.equal(read.controller.signal.aborted, false, `${by} taking over ${owner}'s piece`);
      assert.equal(failures.takenByOf(0), undefined);
      await partial.fail(new Error('test over'));
    }
    const { partial, failures, takeover } = await setUp();
    takeover.takenOver(2, 'next');
    assert.equal(failures.takenByOf(2), undefined, 'a piece past the blob\'s end (it has two) is not taken');
    takeover.takenOver(0, 'next');
    takeover.takenOver(0, 'me');
    assert.equal(failures.takenByOf(0), 'next', 'the first one stands');
    await partial.fail(new Error('test over'));
  });

  test('a transfer of the piece from a holder runs on: it costs the seed nothing', async () => {
    const { partial, failures, read, takeover } = await setUp('me', 'holder');
    takeover.takenOver(0, 'next');
    assert.equal(read.controller.signal.aborted, false);
    assert.equal(failures.takenByOf(0), 'next');
    await partial.fail(new Error('test over'));
  });
});
