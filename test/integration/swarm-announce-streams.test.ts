// The announce protocol's stream reader on real libp2p nodes (loopback): a peer whose hello this
// host dropped (silent on a stalled host, its connection closing) while its stream still carried
// frames is not the peer's fault. Before, the next frame read as "progress before hello" and the
// honest peer was banned for five minutes (8 bans in one 16-host run under load).
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { AnnounceStreams } from '../../src/swarm/announce-streams.ts';
import { createSwarmNode, type SwarmNode } from '../../src/swarm/node.ts';
import { ANNOUNCE_PROTOCOL, encodeFrame, ProtocolViolation, type Message } from '../../src/swarm/protocol.ts';
import { eventually } from '../helpers/eventually.ts';

const running: Array<{ stop(): Promise<void> | void }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function node(): Promise<SwarmNode> {
  const n = await createSwarmNode({ privateKey: await generateKeyPair('Ed25519'), listenPort: 0, listenAddresses: ['127.0.0.1'], mdns: false });
  running.push(n);
  return n;
}

/** A reader host whose table knows a peer from its hello until `forget` is called. */
async function reader() {
  const host = await node();
  const known = new Set<string>();
  const heard: Message['type'][] = [];
  const violations: string[] = [];
  const streams = new AnnounceStreams(host, {
    snapshot: async function* () {},
    onMessage: (peerId, message) => {
      heard.push(message.type);
      if (message.type === 'hello') known.add(peerId);
      else if (!known.has(peerId)) throw new ProtocolViolation(`${message.type} before hello`);
    },
    onInboundEnded: () => undefined,
    onViolation: (_peerId, reason) => violations.push(reason),
    refuses: () => false,
    knows: (peerId) => known.has(peerId),
    passing: () => true,
  });
  await streams.start();
  await host.start();
  running.unshift(streams);
  return { host, heard, violations, forget: (peerId: string) => known.delete(peerId) };
}

const hello: Message = { type: 'hello', version: 1, time: Date.now(), dataPort: 1 };
const progress = (n: number): Message => ({ type: 'want', digests: [`sha256:${n.toString(16).padStart(64, '0')}`] });

describe('announce streams (loopback)', { timeout: 60_000 }, () => {
  test('a frame on a greeted stream after this host dropped the peer ends the stream quietly: no ban', async () => {
    const r = await reader();
    const writer = await node();
    await writer.start();
    const stream = await writer.dialProtocol(r.host.getMultiaddrs()[0]!, ANNOUNCE_PROTOCOL);
    stream.send(encodeFrame(hello));
    stream.send(encodeFrame(progress(1)));
    await eventually(() => r.heard.length === 2, 5_000, 'hello and the first message read');
    r.forget(writer.peerId.toString());
    stream.send(encodeFrame(progress(2)));
    await eventually(() => stream.status !== 'open', 5_000, 'the stream to end');
    assert.deepEqual(r.violations, [], 'no protocol violation: the peer did nothing wrong');
    assert.deepEqual(r.heard, ['hello', 'want'], 'the frame after the drop is not applied');
  });

  test('a stream that sends anything before its hello is still a protocol violation', async () => {
    const r = await reader();
    const writer = await node();
    await writer.start();
    const stream = await writer.dialProtocol(r.host.getMultiaddrs()[0]!, ANNOUNCE_PROTOCOL);
    stream.send(encodeFrame(progress(1)));
    await eventually(() => r.violations.length === 1, 5_000, 'the violation');
    assert.deepEqual(r.violations, ['want before hello']);
  });
});
