// max-peer-connections on real libp2p nodes over loopback: five hosts that each try to reach
// every other (bootstrap lists and peer exchange) keep at most the cap of connections, and
// without a cap the same five form a full mesh, so the cap is what holds them back.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { createSwarm, type Swarm } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';

const running: Swarm[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

/** Five swarms, each bootstrapping from all started before it. */
async function five(maxConnections: number | undefined): Promise<Swarm[]> {
  const swarms: Swarm[] = [];
  for (let i = 0; i < 5; i++) {
    const s = await createSwarm(
      { listenAddresses: ['127.0.0.1'], mdns: false, dataPort: 5001, redialIntervalMs: 200, bootstrap: swarms.flatMap((p) => p.multiaddrs), ...(maxConnections === undefined ? {} : { maxConnections }) },
      { inventory: () => [] },
    );
    running.push(s);
    await s.start();
    swarms.push(s);
  }
  return swarms;
}

describe('swarm: max-peer-connections', { timeout: 60_000 }, () => {
  test('without a cap, five hosts that dial each other form a full mesh (4 connections each)', async () => {
    const swarms = await five(undefined);
    await eventually(() => swarms.every((s) => s.peers().filter((p) => p.synced).length === 4), 20_000, 'a full mesh');
    assert.ok(swarms.every((s) => s.connectionCount >= 4));
  });

  test('with a cap of 3, no host keeps more than 3 connections, and every host stays in the swarm', async () => {
    const swarms = await five(3);
    await eventually(() => swarms.every((s) => s.peers().some((p) => p.synced)), 20_000, 'every host to meet a peer');
    // Redials run every 200 ms: watch for 3 s that nothing creeps past the cap.
    let most = 0;
    for (let t = 0; t < 60; t++) {
      for (const s of swarms) most = Math.max(most, s.connectionCount);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(most <= 3, `a host held ${most} connections with a cap of 3`);
    assert.ok(swarms.every((s) => s.peers().length >= 1 && s.peers().length <= 3));
  });
});
