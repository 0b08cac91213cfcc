// The heartbeat ping goes only to peers this host told nothing else lately: any frame keeps the
// peer's view of us fresh, and during a pull progress and load reports flow anyway. A quiet host
// still pings every interval, so a silent peer is still told apart from a gone one.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { createSwarm, type Swarm, type SwarmLogger } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';

const HEARTBEAT_MS = 200;

const running: Swarm[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

/** A swarm whose stop() logs the messages it sent, by type: read back through `sent()`. */
async function host(bootstrap: readonly Swarm[]): Promise<{ swarm: Swarm; sent: () => Record<string, number> }> {
  let sent: Record<string, number> = {};
  const logger: SwarmLogger = {
    debug() {},
    warn() {},
    info(fields) {
      const messages = (fields as { messages?: { sent: Record<string, number> } }).messages;
      if (messages !== undefined) sent = messages.sent;
    },
  };
  const swarm = await createSwarm(
    { listenAddresses: ['127.0.0.1'], mdns: false, dataPort: 5001, heartbeatMs: HEARTBEAT_MS, peerExpiryMs: 60_000, logger, bootstrap: bootstrap.flatMap((s) => s.multiaddrs) },
    { inventory: () => [] },
  );
  running.push(swarm);
  await swarm.start();
  return { swarm, sent: () => sent };
}

async function meshedPair(): Promise<Array<Awaited<ReturnType<typeof host>>>> {
  const a = await host([]);
  const b = await host([a.swarm]);
  await eventually(() => a.swarm.peers().some((p) => p.synced) && b.swarm.peers().some((p) => p.synced), 20_000, 'the two hosts to meet');
  return [a, b];
}

describe('swarm: heartbeats', { timeout: 60_000 }, () => {
  test('a host that keeps telling its peer something sends it no heartbeat ping', async () => {
    const [a] = await meshedPair();
    const until = Date.now() + 10 * HEARTBEAT_MS;
    for (let i = 0; Date.now() < until; i++) {
      a!.swarm.announceHave(`sha256:${i.toString(16).padStart(64, '0')}`, 1_000);
      await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS / 8));
    }
    await a!.swarm.stop();
    // The first tick may find the peer told nothing yet since the hello.
    assert.ok((a!.sent().ping ?? 0) <= 1, `${a!.sent().ping} heartbeat pings over 10 intervals of other messages`);
    assert.ok((a!.sent().have ?? 0) > 10);
  });

  test('a quiet host pings its peer every interval', async () => {
    const [a] = await meshedPair();
    await new Promise((resolve) => setTimeout(resolve, 10 * HEARTBEAT_MS));
    await a!.swarm.stop();
    assert.ok((a!.sent().ping ?? 0) >= 4, `${a!.sent().ping} heartbeat pings over 10 quiet intervals`);
  });
});
