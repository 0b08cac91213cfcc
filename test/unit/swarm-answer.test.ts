// A host at its neighbour limit still answers a host that dials it as a member of a blob's owner
// committee (its hello says `asks`), while it holds fewer connections than the cap less the DHT
// lookups' share: real libp2p hosts with the DHT on loopback. Before, such a host kept the
// connection a few seconds without a word back: the asker never saw the owner's data URL, so
// never asked it for a piece (bench:scale, 64 hosts: pieces waited the committee gate's 20 s).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { closestToKey } from '../../src/swarm/committee.ts';
import { TEMPORARY_CONNECTION_MS } from '../../src/swarm/connection-budget.ts';
import { createSwarm, type Swarm } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';

const running: Swarm[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

// The owner's cap: 4 with a committee of 1 is a reserve of 2, so 2 neighbours once it knows of 4
// other hosts (fewer would all fit: a full mesh); it answers up to 3 connections.
const OWNER_CAP = 4;
const NEIGHBOUR_LIMIT = 2;
// The others' cap is roomy: only the owner is full.
const ROOMY_CAP = 50;

/** `redialIntervalMs`: the roomy hosts the full owner does not keep redial it seldom, so its answers are not crowded out. */
async function host(maxConnections: number, bootstrap: readonly Swarm[], redialIntervalMs = 200): Promise<Swarm> {
  const s = await createSwarm(
    { listenAddresses: ['127.0.0.1'], mdns: false, dataPort: 5001, redialIntervalMs, maxConnections, ownerCommittee: 1, bootstrap: bootstrap.flatMap((p) => p.multiaddrs) },
    { inventory: () => [] },
  );
  running.push(s);
  await s.start();
  return s;
}

const sees = (a: Swarm, b: Swarm) => a.peers().some((p) => p.peerId === b.peerId && p.url !== undefined);

describe('swarm: an owner past its neighbour limit answers', { timeout: 90_000 }, () => {
  test('a host dialled as a committee member hears the asker out, answers, and keeps it past the temporary grace', async () => {
    const owner = await host(OWNER_CAP, []);
    const others: Swarm[] = [];
    for (let i = 0; i < 4; i++) others.push(await host(ROOMY_CAP, [owner, ...others], 60_000));
    await eventually(() => owner.peers().filter((p) => p.synced).length === NEIGHBOUR_LIMIT, 20_000, `the owner to keep its neighbour limit of ${NEIGHBOUR_LIMIT}`);
    const asker = await host(ROOMY_CAP, [others[0]!]);
    await eventually(() => others.every((o) => sees(asker, o)), 20_000, 'the asker to meet the roomy hosts');
    // A blob whose committee (of one) is the owner, whoever else is in the swarm.
    const ids = [owner, ...others, asker].map((s) => s.peerId);
    let digest = '';
    do digest = `sha256:${randomBytes(32).toString('hex')}`;
    while (closestToKey(digest, ids, 1)[0] !== owner.peerId);
    assert.ok(!sees(asker, owner), 'the full owner took the asker as a neighbour (else this proves nothing)');
    // Looking the committee up (again, every poll that finds it due) dials its member.
    await eventually(() => asker.ownerCommittee(digest)?.[0] === owner.peerId && sees(asker, owner), 30_000, 'the asker to find the owner and hear its hello');
    // Past the grace a temporary connection gets, with time to close it: there all along. (Without
    // the answer, the asker heard the owner only now and then: when the owner's own DHT lookups
    // happened to dial it, a second connection that is no temporary one.)
    const lost: number[] = [];
    const start = Date.now();
    while (Date.now() - start < TEMPORARY_CONNECTION_MS + 2_000) {
      if (!sees(asker, owner)) lost.push(Date.now() - start);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Under load the announce stream can ride on a connection that then closes (a lookup's, let go
    // as temporary) and reopen on the kept one a moment later: once in 10 runs beside two busy loops
    // the owner was lost from 1.0 to 1.9 s, then heard to the end. A member still connected is now
    // waited for (leave-grace.ts): 0 samples lost in 6 runs beside two busy loops. Without the answer
    // the owner was not found within 30 s, or (once) lost for 21 of these 50 samples.
    assert.ok(lost.length <= 3, `the asker lost the owner at ${lost.join(', ')} ms after it first heard it`);
    assert.ok(sees(asker, owner), 'and hears it at the end');
    assert.ok(owner.connectionCount <= OWNER_CAP, `the owner held ${owner.connectionCount} connections with a cap of ${OWNER_CAP}`);
  });
});
