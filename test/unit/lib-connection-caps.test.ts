// src/lib/connection-caps.ts on a real listening server: connections over a cap (per address, in
// all) are closed at once, the rest stay open and are served, and closing frees room again. Clients
// use several loopback source addresses (127.0.0.2, ...) as hosts of a LAN would be several.
// Also src/lib/ip-address.ts and src/http/peer-members.ts (who may make this node fetch from its seed).
import assert from 'node:assert/strict';
import { createServer, get, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { capConnections, type ConnectionRefusal } from '../../src/lib/connection-caps.ts';
import { normaliseAddress } from '../../src/lib/ip-address.ts';
import { askRefusal } from '../../src/http/peer-members.ts';
import { peerServerLimits } from '../../src/http/peer-server.ts';
import type { PeerSummary } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';

interface Client {
  readonly socket: Socket;
  closed: boolean;
}

const clients: Client[] = [];
const servers: Server[] = [];
after(async () => {
  for (const client of clients) client.socket.destroy();
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

async function listening(init: Omit<Parameters<typeof capConnections>[1], 'onRefused'>): Promise<{ port: number; refusals: ConnectionRefusal[]; from: (address: string) => number }> {
  const server = createServer((_request, response) => response.end('ok'));
  servers.push(server);
  const refusals: ConnectionRefusal[] = [];
  const caps = capConnections(server, { ...init, onRefused: (refusal) => refusals.push(refusal) });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, refusals, from: caps.from };
}

/** Opens a connection from `localAddress` and waits until it is accepted (or refused). */
async function open(port: number, localAddress: string): Promise<Client> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  const client: Client = { socket, closed: false };
  clients.push(client);
  socket.on('error', () => undefined);
  socket.once('close', () => (client.closed = true));
  await new Promise((resolve) => socket.once('connect', resolve).once('close', resolve));
  return client;
}

function answered(port: number, localAddress: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    get({ port, host: '127.0.0.1', localAddress, agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode);
    }).on('error', () => resolve(undefined));
  });
}

describe('connection caps', () => {
  test('per address: connections past the cap are closed at once, other addresses are served, a closed one frees room', async () => {
    const { port, refusals, from } = await listening({ total: 100, perAddress: 3 });
    const kept = [await open(port, '127.0.0.2'), await open(port, '127.0.0.2'), await open(port, '127.0.0.2')];
    const over = [await open(port, '127.0.0.2'), await open(port, '127.0.0.2')];
    await eventually(() => over.every((c) => c.closed), 10_000, 'the connections over the cap to close');
    assert.deepEqual(refusals, [{ cap: 'per-address', address: '127.0.0.2' }, { cap: 'per-address', address: '127.0.0.2' }]);
    assert.ok(kept.every((c) => !c.closed), 'the connections within the cap stay open');
    assert.equal(from('127.0.0.2'), 3);
    assert.equal(await answered(port, '127.0.0.3'), 200, 'another address is served');
    kept[0]!.socket.destroy();
    await eventually(() => from('127.0.0.2') === 2, 10_000, 'the closed connection to be counted off');
    assert.equal(await answered(port, '127.0.0.2'), 200, 'room again for the address');
  });

  test('in all: past the total the listener closes connections from any address; exempt addresses skip the per-address cap only', async () => {
    const { port, refusals, from } = await listening({ total: 4, perAddress: 1, exempt: (address) => address === '127.0.0.9' });
    const exempt = [await open(port, '127.0.0.9'), await open(port, '127.0.0.9'), await open(port, '127.0.0.9')];
    assert.equal(from('127.0.0.9'), 0);
    const fourth = await open(port, '127.0.0.10');
    const fifth = await open(port, '127.0.0.11');
    await eventually(() => fifth.closed, 10_000, 'the connection over the total to close');
    assert.ok([...exempt, fourth].every((c) => !c.closed));
    assert.deepEqual(refusals, [{ cap: 'total', address: '127.0.0.11' }]);
  });
});

describe('addresses and members', () => {
  test('one spelling per address', () => {
    assert.equal(normaliseAddress('::ffff:10.0.0.5'), '10.0.0.5');
    assert.equal(normaliseAddress('FD00:0:0::5'), 'fd00::5');
    assert.equal(normaliseAddress('[::1]'), '::1');
    assert.equal(normaliseAddress('10.0.0.5'), '10.0.0.5');
  });

  const member = (peer: Partial<PeerSummary>): PeerSummary => ({
    peerId: 'member', addresses: [], url: undefined, connectedAt: 0, lastSeen: 0, clockSkewMs: 0, pieceSize: undefined, synced: true, blobs: 0, ...peer,
  });

  test('an owner ask is taken from a connected member at its data-plane host or a libp2p connection\'s address', () => {
    const members = { peers: () => [member({ url: 'http://10.0.0.7:5002', addresses: ['/ip4/10.0.0.8/tcp/40123/p2p/member'] }), member({ peerId: 'v6', url: 'https://[fd00::9]:5002', addresses: [] })] };
    assert.equal(askRefusal(members, 'member', '10.0.0.7'), undefined, 'its advertised data-plane host');
    assert.equal(askRefusal(members, 'member', '::ffff:10.0.0.8'), undefined, 'its libp2p connection\'s address, IPv4-mapped');
    assert.equal(askRefusal(members, 'v6', 'FD00::9'), undefined);
    assert.match(askRefusal(members, 'member', '10.0.0.66') ?? '', /is a member, but this node knows it at 10\.0\.0\.7, 10\.0\.0\.8, not 10\.0\.0\.66/);
    assert.match(askRefusal(members, 'stranger', '10.0.0.7') ?? '', /not a connected member/);
    assert.match(askRefusal(members, undefined, '10.0.0.7') ?? '', /names the asking peer/);
  });

  test('the caps leave most of the process\'s file descriptors to the rest of it', () => {
    assert.deepEqual([peerServerLimits(20_000).total, peerServerLimits(20_000).perAddress], [4096, 256]);
    assert.deepEqual([peerServerLimits(1024).total, peerServerLimits(1024).perAddress], [256, 64]);
    assert.equal(peerServerLimits(undefined).total, 4096);
  });
});
