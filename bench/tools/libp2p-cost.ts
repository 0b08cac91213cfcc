// What the swarm's libp2p plumbing costs in CPU, against a raw TCP socket measured in the same run:
// one announce frame sent and read (real AnnounceStreams between two real libp2p nodes), and one
// connection dialled and closed (TCP, noise, yamux, identify). Both ends live in this process, so
// each figure is the cost at both ends together. Warm-up rounds first (the JIT's cost is not the
// steady one), then the measured rounds; the same rounds with the work left out are subtracted.
//   node bench/tools/libp2p-cost.ts [--frames 20000] [--connections 300]
import { connect, createServer, type AddressInfo } from 'node:net';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { AnnounceStreams } from '../../src/swarm/announce-streams.ts';
import { createSwarmNode, type SwarmNode } from '../../src/swarm/node.ts';
import { ANNOUNCE_PROTOCOL, encodeFrame, type Message } from '../../src/swarm/protocol.ts';
import { parseFlags } from '../lib/args.ts';
import { progress as say } from '../lib/fanout-report.ts';
import { writeBenchResult } from '../lib/results.ts';

const flags = parseFlags(process.argv.slice(2), { switches: [], values: ['frames', 'connections'] });
function rounds(name: string, fallback: number): number {
  const value = Number(flags.get(name) ?? fallback);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`--${name} takes a whole number of rounds (at least 1), not ${String(flags.get(name))}\n`);
    process.exit(2);
  }
  return value;
}
const FRAMES = rounds('frames', 20_000);
const CONNECTIONS = rounds('connections', 300);
const tick = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Counts what arrived; `reach(n)` resolves once `n` have (no polling: that would cost CPU too). */
class Arrivals {
  count = 0;
  #waiting: { readonly at: number; readonly resolve: () => void } | undefined;
  add(n: number): void {
    this.count += n;
    if (this.#waiting && this.count >= this.#waiting.at) {
      const { resolve } = this.#waiting;
      this.#waiting = undefined;
      resolve();
    }
  }
  reach(at: number): Promise<void> {
    return this.count >= at ? Promise.resolve() : new Promise((resolve) => (this.#waiting = { at, resolve }));
  }
}
const cpuUs = (usage: NodeJS.CpuUsage) => usage.user + usage.system;

/** CPU µs per round of `work`, less the same rounds of `idle` (the pacing alone). */
async function perRound(rounds: number, work: () => Promise<void>, idle: () => Promise<void>): Promise<number> {
  let start = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await work();
  const withWork = cpuUs(process.cpuUsage(start));
  start = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await idle();
  return (withWork - cpuUs(process.cpuUsage(start))) / rounds;
}

const node = async (): Promise<SwarmNode> => {
  const n = await createSwarmNode({ privateKey: await generateKeyPair('Ed25519'), listenPort: 0, listenAddresses: ['127.0.0.1'], mdns: false, inboundPerAddressPerSecond: 100_000 });
  await n.start();
  return n;
};

// A progress message as a fan-out sends it: a 256 MiB blob in 4 MiB pieces.
const progress: Message = { type: 'progress', digest: `sha256:${'a'.repeat(64)}`, size: 256 * 2 ** 20, pieces: { pieceSize: 4 * 2 ** 20, bitfield: new Uint8Array(8).fill(0xff) }, load: 3 };
const frame = encodeFrame(progress);

async function rawTcpFrame(): Promise<number> {
  const read = new Arrivals();
  const server = createServer((socket) => socket.on('data', (data) => read.add(data.length)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise((resolve) => client.once('connect', resolve));
  const send = async () => {
    const until = read.count + frame.byteLength;
    client.write(frame);
    await read.reach(until);
  };
  for (let i = 0; i < 2_000; i++) await send();
  const us = await perRound(FRAMES, async () => { await send(); await tick(1); }, () => tick(1));
  client.destroy();
  server.close();
  return us;
}

async function announceFrame(): Promise<number> {
  const reader = await node();
  const heard = new Arrivals();
  const streams = new AnnounceStreams(reader, {
    snapshot: async function* () {},
    onMessage: () => heard.add(1),
    onInboundEnded: () => undefined,
    onViolation: (_peer, reason) => { throw new Error(`protocol violation: ${reason}`); },
    refuses: () => false,
    knows: () => true,
    passing: () => true,
  });
  await streams.start();
  const writer = await node();
  const stream = await writer.dialProtocol(reader.getMultiaddrs()[0]!, ANNOUNCE_PROTOCOL);
  stream.send(encodeFrame({ type: 'hello', version: 1, time: Date.now(), dataPort: 1 }));
  await heard.reach(1);
  const send = async () => {
    const until = heard.count + 1;
    stream.send(frame);
    await heard.reach(until);
  };
  for (let i = 0; i < 5_000; i++) await send();
  const us = await perRound(FRAMES, async () => { await send(); await tick(1); }, () => tick(1));
  await writer.stop();
  await streams.stop();
  await reader.stop();
  return us;
}

async function rawTcpConnection(): Promise<number> {
  const server = createServer((socket) => socket.on('data', () => undefined));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const once = async () => {
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    await tick(20);
    socket.destroy();
    await tick(5);
  };
  for (let i = 0; i < 50; i++) await once();
  const us = await perRound(CONNECTIONS, once, async () => { await tick(20); await tick(5); });
  server.close();
  return us;
}

async function libp2pConnection(): Promise<number> {
  const [a, b] = [await node(), await node()];
  const address = a.getMultiaddrs()[0]!;
  const once = async () => {
    const connection = await b.dial(address);
    await tick(20);
    await connection.close();
    await tick(5);
  };
  for (let i = 0; i < 50; i++) await once();
  const us = await perRound(CONNECTIONS, once, async () => { await tick(20); await tick(5); });
  await b.stop();
  await a.stop();
  return us;
}

/** Runs one measurement, saying what runs (each takes tens of seconds at the default rounds). */
async function step(what: string, measure: () => Promise<number>): Promise<number> {
  say(`${what}…`);
  return measure();
}
const rows = [
  {
    what: `an announce frame (${frame.byteLength} bytes) sent and read`,
    libp2pUs: await step(`${FRAMES} announce frames over libp2p`, announceFrame),
    rawTcpUs: await step(`${FRAMES} frames over raw TCP`, rawTcpFrame),
    rounds: FRAMES,
  },
  {
    what: 'a connection dialled and closed (noise, yamux, identify)',
    libp2pUs: await step(`${CONNECTIONS} libp2p connections`, libp2pConnection),
    rawTcpUs: await step(`${CONNECTIONS} raw TCP connections`, rawTcpConnection),
    rounds: CONNECTIONS,
  },
];
process.stdout.write('| both ends, CPU per | libp2p | raw TCP | ratio | rounds |\n| --- | --- | --- | --- | --- |\n');
for (const r of rows) process.stdout.write(`| ${r.what} | ${(r.libp2pUs / 1000).toFixed(3)} ms | ${(r.rawTcpUs / 1000).toFixed(3)} ms | ${(r.libp2pUs / r.rawTcpUs).toFixed(1)}x | ${r.rounds} |\n`);
process.stdout.write(`results: ${await writeBenchResult('libp2p-cost', { rows })}\n`);
