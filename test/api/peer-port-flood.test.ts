// A real `shoal serve` (swarm on, loopback only, no mDNS) with 1024 file descriptors, as a tight
// ulimit leaves it: a flood of idle connections to its peer port must not take them all. Before
// the caps (audit F1) the daemon ran out of descriptors and its registry API on loopback reset
// every connection; now the peer port holds at most a quarter of them and refuses the rest at once,
// saying so in one log line. Needs prlimit (util-linux).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { freePort } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const FD_LIMIT = 1024;
const FLOOD = 1100;

let shoal: ShoalProcess | undefined;
let peerPort = 0;
const sockets: Socket[] = [];

before(async () => {
  assert.equal(spawnSync('prlimit', ['--version']).status, 0, 'prlimit (util-linux) is needed');
  peerPort = await freePort();
  shoal = await startShoal({
    swarm: true,
    wrapper: ['prlimit', `--nofile=${FD_LIMIT}:${FD_LIMIT}`],
    args: ['--bind-address', '127.0.0.1', '--p2p-port', '0', '--peer-port', String(peerPort), '--no-mdns'],
  });
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  await shoal?.dispose();
});

function status(port: number, path: string): Promise<number | undefined> {
  return new Promise((done) => {
    const request = get({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000 }, (response) => {
      response.resume();
      done(response.statusCode);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => done(undefined));
  });
}

test('a flood of idle connections to the peer port leaves the registry API answering', async () => {
  let closed = 0;
  for (let i = 0; i < FLOOD; i++) {
    const socket = connect({ host: '127.0.0.1', port: peerPort });
    socket.on('error', () => undefined);
    socket.once('close', () => (closed += 1));
    sockets.push(socket);
    await new Promise((resolve) => socket.once('connect', resolve).once('close', resolve));
  }
  assert.equal(await status(shoal!.port, '/v2/'), 200, 'the registry API answers while the peer port is flooded');
  assert.equal(await status(shoal!.port, '/v2/'), 200);
  // A quarter of 1024 descriptors is held at most; every connection past it was closed at once.
  await eventually(() => closed >= FLOOD - FD_LIMIT / 4, 30_000, `at least ${FLOOD - FD_LIMIT / 4} of ${FLOOD} connections closed (${closed} so far)`);
  const warnings = shoal!.logs().filter((line) => String(line.msg).startsWith('peer port: connections refused over the cap'));
  assert.equal(warnings.length, 1, 'one log line for the whole flood');
  assert.equal(warnings[0]!.totalCap, FD_LIMIT / 4);
  for (const socket of sockets) socket.destroy();
  await eventually(async () => (await status(peerPort, '/healthz')) === 200, 30_000, 'the peer port to serve again once the flood is gone');
});
