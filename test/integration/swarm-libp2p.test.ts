// The libp2p Swarm on real loopback sockets: announcement latency, the cluster key, hostile
// peers speaking the announce protocol badly, and an identity that survives a restart. Peers
// find each other through bootstrap lists here; mDNS is tested in swarm-mdns.test.ts, inside a
// network namespace, because multicast from this process would leave through eth0.
import { after, afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import * as lp from 'it-length-prefixed';
import { createSwarm, generateClusterKey, parseClusterKey, type ClusterKey, type InventoryEntry, type Swarm, type SwarmInit } from '../../src/swarm/index.ts';
import type { SwarmLogger } from '../../src/swarm/logger.ts';
import { createSwarmNode, type SwarmNode } from '../../src/swarm/node.ts';
import { ANNOUNCE_PROTOCOL, encodeFrame, toWire } from '../../src/swarm/protocol.ts';
import { eventually } from '../helpers/eventually.ts';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const running: Array<{ stop(): Promise<void> | void }> = [];

async function swarm(init: Partial<SwarmInit> = {}, inventory: InventoryEntry[] = []): Promise<Swarm> {
  const s = await createSwarm({ listenAddresses: ['127.0.0.1'], mdns: false, dataPort: 5001, redialIntervalMs: 200, ...init }, { inventory: () => inventory });
  running.push(s);
  await s.start();
  return s;
}

/** A bare libp2p node (no Swarm on top) that can open announce streams and write anything. */
async function rawNode(clusterKey?: ClusterKey): Promise<SwarmNode> {
  const node = await createSwarmNode({ privateKey: await generateKeyPair('Ed25519'), listenPort: 0, listenAddresses: ['127.0.0.1'], mdns: false, clusterKey });
  running.push(node);
  await node.start();
  return node;
}

/** A swarm logger that keeps its warnings. */
function warnings(): SwarmLogger & { readonly lines: Array<{ fields: Record<string, unknown>; message: string }> } {
  const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
  return { lines, debug() {}, info() {}, warn: (fields, message) => lines.push({ fields: fields as Record<string, unknown>, message }) };
}

async function meshed(swarms: Swarm[]): Promise<void> {
  await eventually(() => swarms.every((s) => s.peers().filter((p) => p.synced).length === swarms.length - 1), 10_000, 'a synced full mesh');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('Swarm on libp2p (loopback)', { timeout: 180_000 }, () => {
  test('announcements reach every peer in well under a second (p95 over 100)', async () => {
    const a = await swarm();
    const b = await swarm({ bootstrap: a.multiaddrs });
    const c = await swarm({ bootstrap: [...a.multiaddrs, ...b.multiaddrs] });
    await meshed([a, b, c]);
    const latencies: number[] = [];
    for (let i = 0; i < 100; i++) {
      const d = digest(1000 + i);
      const kind = (['have', 'withdrawn', 'tag'] as const)[i % 3]!;
      const arrived = [b, c].map((s) => (kind === 'tag' ? s.once('tag', (t) => t.tag === `t${i}`) : kind === 'have' ? s.once('have', (e) => e.digest === d) : s.once('withdrawn', (e) => e.digest === d)));
      const start = performance.now();
      if (kind === 'have') a.announceHave(d, i);
      else if (kind === 'withdrawn') a.announceWithdrawn(d);
      else a.announceTag('bench/app', `t${i}`, d);
      await Promise.all(arrived);
      latencies.push(performance.now() - start);
    }
    latencies.sort((x, y) => x - y);
    const [p50, p95, max] = [percentile(latencies, 50), percentile(latencies, 95), latencies.at(-1)!];
    console.log(`announce latency to 2 peers over 100 announcements: p50 ${p50.toFixed(2)} ms, p95 ${p95.toFixed(2)} ms, max ${max.toFixed(2)} ms`);
    assert.ok(p95 < 1_000, `p95 ${p95} ms`);

    // A burst, as when a whole image lands at once: every have arrives, in order.
    const burst = 2_000;
    const last = b.once('have', (e) => e.digest === digest(20_000 + burst - 1));
    const start = performance.now();
    for (let i = 0; i < burst; i++) a.announceHave(digest(20_000 + i), i);
    await last;
    const elapsed = performance.now() - start;
    console.log(`burst of ${burst} haves delivered in ${elapsed.toFixed(1)} ms`);
    assert.equal(b.holders(digest(20_000)).length, 1);
  });

  test('an announce stream that ends while its peer stays connected: the peer stays a member until its new stream; a disconnect leaves at once', async () => {
    const a = await swarm();
    const b = await swarm({ bootstrap: a.multiaddrs }, [{ digest: digest(7), size: 7 }]);
    await meshed([a, b]);
    const left: string[] = [];
    a.on('peer:left', ({ reason }) => left.push(reason));
    // What a crossing connection closed under it does: b's stream to a breaks, the connection stays.
    const stream = b.node!.getConnections(peerIdFromString(a.peerId)).flatMap((c) => c.streams).find((s) => s.protocol === ANNOUNCE_PROTOCOL && s.direction === 'outbound');
    assert.ok(stream, 'b has its announce stream to a');
    stream.abort(new Error('broken for the test'));
    // b reopens it after a second; meanwhile a keeps b among its peers, sampled every 20 ms.
    const missing: number[] = [];
    const started = performance.now();
    while (performance.now() - started < 2_500) {
      if (!a.peers().some((p) => p.peerId === b.peerId)) missing.push(Math.round(performance.now() - started));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(missing, [], 'b missing from a\'s peers at these ms');
    await eventually(() => a.holders(digest(7)).length === 1, 5_000, 'b\'s blob heard again on its new stream');
    assert.ok(!left.some((reason) => reason.startsWith('announce stream failed')), left.join('; '));
    // Gone for good: a leaves it at the disconnect, not after the grace.
    const stopped = performance.now();
    await b.stop();
    await eventually(() => a.peers().length === 0, 4_000, 'a to let b go');
    assert.ok(performance.now() - stopped < 4_000);
  });

  test('peer exchange: hosts that all bootstrap from one seed host end up in a full mesh', async () => {
    const seed = await swarm();
    const others = [];
    for (let i = 0; i < 3; i++) others.push(await swarm({ bootstrap: seed.multiaddrs }, [{ digest: digest(500 + i), size: i }]));
    await meshed([seed, ...others]);
    // Announcements are not relayed: these arrive because every pair is connected directly.
    assert.equal(others[0]!.holders(digest(502))[0]?.peerId, others[2]!.peerId);
    const seen = others[2]!.once('have', (e) => e.digest === digest(600));
    others[0]!.announceHave(digest(600), 6);
    assert.equal((await seen).peerId, others[0]!.peerId);
  });

  test('cluster key: members connect and announce; hosts without it, or with another, get nothing', async () => {
    const key = parseClusterKey(generateClusterKey());
    const otherKey = parseClusterKey(generateClusterKey());
    const membersLog = warnings();
    const a = await swarm({ clusterKey: key, logger: membersLog }, [{ digest: digest(1), size: 1 }]);
    const member = await swarm({ clusterKey: key, bootstrap: a.multiaddrs, logger: membersLog });
    await meshed([a, member]);
    assert.equal(member.holders(digest(1)).length, 1);

    const strangerLog = warnings();
    const impostorLog = warnings();
    const stranger = await swarm({ bootstrap: a.multiaddrs, logger: strangerLog }, [{ digest: digest(2), size: 2 }]);
    const impostor = await swarm({ clusterKey: otherKey, bootstrap: a.multiaddrs, logger: impostorLog }, [{ digest: digest(3), size: 3 }]);
    // Deterministic: a direct dial fails at the pnet/noise handshake either way.
    const target = multiaddr(a.multiaddrs[0]!);
    const [plain, wrongKey] = await Promise.all([rawNode(), rawNode(otherKey)]);
    await Promise.all([assert.rejects(plain.dial(target)), assert.rejects(wrongKey.dial(target))]);
    // And the stranger's and impostor's own redials (every 200 ms) get nowhere.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.deepEqual(a.peers().map((p) => p.peerId), [member.peerId]);
    assert.deepEqual(stranger.peers(), []);
    assert.deepEqual(impostor.peers(), []);
    assert.deepEqual(a.holders(digest(2)), []);
    assert.deepEqual(a.holders(digest(3)), []);
    assert.deepEqual(stranger.holders(digest(1)), []);

    // Each says why, once, naming the host it cannot join and what to check: the impostor's dials
    // are reset in the handshake at once, the stranger's wait out libp2p's 6 s handshake timeout.
    const joinWarnings = (log: ReturnType<typeof warnings>) => log.lines.filter((l) => l.message.startsWith('cannot join a peer'));
    await eventually(() => joinWarnings(impostorLog).length > 0 && joinWarnings(strangerLog).length > 0, 30_000, 'a warning on each host that cannot join');
    const [impostorWarning] = joinWarnings(impostorLog);
    assert.equal(impostorWarning!.fields.peerId, a.peerId);
    assert.match(impostorWarning!.message, /another cluster key, or none/);
    assert.ok((impostorWarning!.fields.addresses as string[]).some((address) => a.multiaddrs.some((m) => m.startsWith(address))), JSON.stringify(impostorWarning!.fields));
    const [strangerWarning] = joinWarnings(strangerLog);
    assert.equal(strangerWarning!.fields.peerId, a.peerId);
    assert.match(strangerWarning!.message, /runs with a cluster key and this one has none/);
    // Not repeated at every redial (every 200 ms here).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(joinWarnings(impostorLog).length, 1);
    // The members, connected to each other, warned of nothing.
    assert.deepEqual(a.peers().map((p) => p.peerId), [member.peerId]);
    assert.deepEqual(joinWarnings(membersLog), []);
  });

  const hostile: Array<[string, (send: (bytes: Uint8Array) => void) => void]> = [
    ['a frame that is not JSON', (send) => send(lp.encode.single(Buffer.from('{"type": "have", oops')).subarray())],
    ['a frame longer than 4 MiB (refused from its length prefix)', (send) => {
      send(Uint8Array.from([0x80, 0x80, 0x80, 0x03])); // varint 6 MiB
      send(new Uint8Array(64 * 1024));
    }],
    ['a have before hello', (send) => send(encodeFrame({ type: 'have', blobs: [{ digest: digest(1), size: 1 }] }))],
    ['a have with a key that is not a CID', (send) => {
      send(encodeFrame({ type: 'hello', version: 1, time: Date.now(), dataPort: 1 }));
      send(lp.encode.single(Buffer.from(JSON.stringify({ type: 'have', blobs: [['sha256:abc', 1]] }))).subarray());
    }],
    ['a varint length that never ends', (send) => send(new Uint8Array(16).fill(0xff))],
  ];
  for (const [what, write] of hostile) {
    test(`a peer that sends ${what} is disconnected and banned; the swarm carries on`, async () => {
      const a = await swarm({}, [{ digest: digest(1), size: 1 }]);
      const friend = await swarm({ bootstrap: a.multiaddrs });
      await meshed([a, friend]);
      const raw = await rawNode();
      const penalised = a.once('peer:penalised', (p) => p.peerId === raw.peerId.toString());
      const stream = await raw.dialProtocol(multiaddr(a.multiaddrs[0]!), ANNOUNCE_PROTOCOL);
      write((bytes) => stream.send(bytes));
      const penalty = await penalised;
      assert.equal(penalty.refuseConnections, true);
      assert.match(penalty.reason, /protocol violation/);
      await eventually(() => raw.getConnections().length === 0, 5_000, 'the hostile peer to be disconnected');
      // Noise negotiates the muxer inside its handshake, so the dialler may see a connection for
      // an instant before the gater on the other side drops it; a stream never opens.
      await assert.rejects(raw.dialProtocol(multiaddr(a.multiaddrs[0]!), ANNOUNCE_PROTOCOL), 'a banned peer cannot reconnect');
      await eventually(() => raw.getConnections().length === 0, 5_000, 'the reconnection to be dropped');
      assert.ok(!a.peers().some((p) => p.peerId === raw.peerId.toString()));
      // Still serving the well-behaved peer.
      const seen = friend.once('have', (e) => e.digest === digest(99));
      a.announceHave(digest(99), 9);
      await seen;
    });
  }

  test('a hostile hello is refused without taking the stream reader down with it', async () => {
    const a = await swarm();
    const raw = await rawNode();
    const penalised = a.once('peer:penalised');
    const stream = await raw.dialProtocol(multiaddr(a.multiaddrs[0]!), ANNOUNCE_PROTOCOL);
    stream.send(lp.encode.single(toWire({ type: 'hello', version: 1, time: 1, dataUrl: 'http://x:1' })).subarray());
    stream.send(lp.encode.single(Buffer.from(JSON.stringify({ type: 'hello', version: 1, time: 1, dataUrl: 'http://x:1/../admin' }))).subarray());
    assert.equal((await penalised).peerId, raw.peerId.toString());
  });

  test('the peer id survives a restart, and bootstrap peers reconnect to the restarted host', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-swarm-restart-'));
    dirs.push(dataDir);
    const port = await freePort();
    const first = await swarm({ dataDir, listenPort: port }, [{ digest: digest(1), size: 1 }]);
    const id = first.peerId;
    assert.equal((await stat(join(dataDir, 'shoal', 'peer-key'))).mode & 0o777, 0o600);
    const other = await swarm({ bootstrap: first.multiaddrs });
    await meshed([first, other]);
    const left = other.once('peer:left', (e) => e.peerId === id);
    await first.stop();
    await left;
    assert.deepEqual(other.holders(digest(1)), []);

    const rejoined = other.once('peer:synced', (e) => e.peerId === id);
    const second = await swarm({ dataDir, listenPort: port }, [{ digest: digest(1), size: 1 }, { digest: digest(2), size: 2 }]);
    assert.equal(second.peerId, id);
    await rejoined;
    assert.equal(other.holders(digest(2))[0]?.peerId, id);
  });

  test('an advertise address is what peers get, in multiaddrs and in the data URL', async () => {
    // Listening on every interface is only listening: nothing is sent anywhere but loopback.
    const a = await swarm({ listenAddresses: ['0.0.0.0'], advertiseAddress: '127.0.0.2', dataPort: 5999 });
    assert.ok(a.multiaddrs.length > 0 && a.multiaddrs.every((m) => m.startsWith('/ip4/127.0.0.2/tcp/')), a.multiaddrs.join());
    const b = await swarm({ bootstrap: a.multiaddrs });
    await meshed([a, b]);
    assert.equal(b.peers()[0]?.url, 'http://127.0.0.2:5999');
    // Without one, the peer's URL is built from the address its connection comes from.
    assert.equal(a.peers()[0]?.url, 'http://127.0.0.1:5001');
  });

  test('a data port given at start (bound after the swarm was built) is the one peers get', async () => {
    // The daemon's order: construct the swarm, bind the peer port, then start the swarm with it.
    const a = await createSwarm({ listenAddresses: ['127.0.0.1'], advertiseAddress: '127.0.0.1', mdns: false }, { inventory: () => [] });
    running.push(a);
    await a.start({ port: 6123 });
    const b = await swarm({ bootstrap: a.multiaddrs });
    await meshed([a, b]);
    assert.equal(b.peers()[0]?.url, 'http://127.0.0.1:6123');
  });
});
