// A host whose event loop stalls longer than the peer expiry keeps its peers: what they sent
// while it stalled waits in its sockets, and the stall is not counted as their silence (the
// steady clock, src/lib/steady-clock.ts). Real libp2p on loopback.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { createSwarm, type Swarm } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';

const running: Swarm[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

const EXPIRY_MS = 1_000;

async function swarm(bootstrap: readonly string[] = []): Promise<Swarm> {
  const s = await createSwarm({ listenAddresses: ['127.0.0.1'], mdns: false, dataPort: 5001, bootstrap, heartbeatMs: 100, peerExpiryMs: EXPIRY_MS }, { inventory: () => [] });
  running.push(s);
  await s.start();
  return s;
}

function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('a stall of the event loop three times the peer expiry drops no peer', { timeout: 60_000 }, async () => {
  const a = await swarm();
  const b = await swarm(a.multiaddrs);
  await eventually(() => a.peers().some((p) => p.synced) && b.peers().some((p) => p.synced), 20_000, 'the two hosts to meet');
  const left: string[] = [];
  for (const s of [a, b]) s.on('peer:left', ({ reason }) => left.push(reason));
  block(3 * EXPIRY_MS);
  // Several heartbeats after the stall: the timers run first, then the sockets are read.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(left, [], 'a peer was taken for silent during this process\'s own stall');
  assert.equal(a.peers().length, 1);
  assert.equal(b.peers().length, 1);
});
