// kad-dht tags its closest peers keep-alive, and libp2p then redials such a peer whenever its
// connection closes: the swarm's own choice of connections (temporary ones let go, crossing ones
// closed) was undone at once, over and over. A node running the DHT takes the tag off.
import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { KEEP_ALIVE } from '@libp2p/interface';
import { afterEach, describe, test } from 'node:test';
import { createSwarmNode, type SwarmNode } from '../../src/swarm/node.ts';
import { eventually } from '../helpers/eventually.ts';

/** The tag kad-dht's routing table puts on its closest peers (@libp2p/kad-dht constants). */
const DHT_KEEP_ALIVE = `${KEEP_ALIVE}-kad-dht`;

const running: SwarmNode[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.stop()));
});

async function node(): Promise<SwarmNode> {
  const n = await createSwarmNode({ privateKey: await generateKeyPair('Ed25519'), listenPort: 0, listenAddresses: ['127.0.0.1'], mdns: false, dht: true });
  running.push(n);
  await n.start();
  return n;
}

describe('swarm node: connections are the swarm’s to keep, not the DHT’s', { timeout: 30_000 }, () => {
  test('the keep-alive tag the DHT sets on a peer is taken off, and a connection closed to it stays closed', async () => {
    const [a, b] = [await node(), await node()];
    await a.dial(b.getMultiaddrs()[0]!);
    // What kad-dht's closest-peers tagger does every few seconds.
    await a.peerStore.merge(b.peerId, { tags: { [DHT_KEEP_ALIVE]: { value: 1 }, 'kad-close': { value: 50 } } });
    await eventually(async () => !(await a.peerStore.get(b.peerId)).tags.has(DHT_KEEP_ALIVE), 10_000, 'the keep-alive tag to go');
    assert.equal((await a.peerStore.get(b.peerId)).tags.get('kad-close')?.value, 50, 'the DHT’s value tag stays');
    let reopened = 0;
    a.addEventListener('connection:open', () => void (reopened += 1));
    await a.hangUp(b.peerId);
    // libp2p's reconnect queue dials a keep-alive peer right after its disconnect; give it time.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal(reopened, 0, 'nothing redialled the peer');
    assert.equal(a.getConnections(b.peerId).length, 0);
  });
});
