// A host at its neighbour limit still answers a peer that opens its announce stream to it (a host
// asking it as a committee member, or a newcomer), while it holds fewer connections than the cap
// less the DHT lookups' share: real libp2p hosts on loopback. Before, such a host kept the
// connection for a few seconds without a word back: the asker never saw its data URL, so never
// asked it for a piece (bench:scale, 64 hosts: pieces waited the committee gate's 20 s).
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { TEMPORARY_CONNECTION_MS } from '../../src/swarm/connection-budget.ts';
import { createSwarm, type Swarm } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';

const running: Swarm[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

// Cap 5 with a committee of 1: a reserve of 2, so 3 neighbours; answered up to 4 connections.
const CAP = 5;

async function host(bootstrap: readonly Swarm[]): Promise<Swarm> {
  const s = await createSwarm(
    { listenAddresses: ['127.0.0.1'], mdns: false, dataPort: 5001, redialIntervalMs: 200, maxConnections: CAP, ownerCommittee: 1, bootstrap: bootstrap.flatMap((p) => p.multiaddrs) },
    { inventory: () => [] },
  );
  running.push(s);
  await s.start();
  return s;
}

const sees = (a: Swarm, b: Swarm) => a.peers().some((p) => p.peerId === b.peerId && p.url !== undefined && p.synced);

describe('swarm: a full host answers', { timeout: 60_000 }, () => {
  test('a host at its neighbour limit answers a peer that dials it, and keeps it past the temporary grace', async () => {
    const full: Swarm[] = [];
    for (let i = 0; i < 4; i++) full.push(await host(full));
    await eventually(() => full.every((s) => s.peers().filter((p) => p.synced).length === 3), 20_000, 'four hosts at their neighbour limit of 3');
    const [a] = full;
    const newcomer = await host([a!]);
    await eventually(() => sees(newcomer, a!), 10_000, 'the newcomer to hear the full host it dialled');
    // Past the grace a temporary connection gets, with time to close it: still there.
    await new Promise((resolve) => setTimeout(resolve, TEMPORARY_CONNECTION_MS + 2_000));
    assert.ok(sees(newcomer, a!), 'the full host let the newcomer go');
    assert.ok(full.every((s) => s.connectionCount <= CAP), `a host held more than ${CAP} connections`);
  });
});
