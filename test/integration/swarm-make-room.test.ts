// A full host makes room for a newcomer (connection-budget.ts): six hosts that fill each other's
// neighbour limit (cap 8 less a reserve of 3: 5 neighbours), and a seventh that can reach only
// one of them. Real libp2p on loopback.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { createSwarm, type Swarm } from '../../src/swarm/index.ts';
import { committeeReserve } from '../../src/swarm/connection-budget.ts';
import { eventually } from '../helpers/eventually.ts';

const running: Swarm[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

const CAP = 8;
const COMMITTEE = 2;
const LIMIT = CAP - committeeReserve(CAP, COMMITTEE);

async function swarm(bootstrap: readonly string[] = []): Promise<Swarm> {
  const s = await createSwarm(
    { listenAddresses: ['127.0.0.1'], mdns: false, dataPort: 5001, bootstrap, maxConnections: CAP, ownerCommittee: COMMITTEE, heartbeatMs: 300, redialIntervalMs: 500 },
    { inventory: () => [] },
  );
  running.push(s);
  await s.start();
  return s;
}

const synced = (s: Swarm) => s.peers().filter((p) => p.synced).length;

test('a host with no neighbours that reaches only full hosts is made room for', { timeout: 120_000 }, async () => {
  assert.equal(LIMIT, 5);
  const first = await swarm();
  const full = [first];
  for (let i = 1; i <= LIMIT; i++) full.push(await swarm(first.multiaddrs));
  await eventually(() => full.every((s) => synced(s) === LIMIT), 60_000, 'six hosts to fill each other\'s neighbour limit');
  const reached = full[3]!;
  const newcomer = await swarm(reached.multiaddrs);
  await eventually(() => synced(newcomer) >= 1, 30_000, 'the newcomer to be kept by a full host');
  // Past the temporary connections' grace period: still there, and no host over its cap. (A host
  // may briefly hold one peer over its limit: the neighbour let go, dialling back, is temporary.)
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  assert.ok(synced(newcomer) >= 1, 'the newcomer was let go again');
  for (const s of [...full, newcomer]) assert.ok(s.connectionCount <= CAP, `a host held ${s.connectionCount} connections, over its cap of ${CAP}`);
});
