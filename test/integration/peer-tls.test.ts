// The peer data plane with and without a cluster key, on real loopback sockets. With a key it
// speaks TLS keyed by it (issue 10, items 3 and 4): a relay between two members records every
// byte, and nothing it saw (headers, handshake) gets a stranger a byte of a blob or /metrics, nor
// are the layer's bytes in the recording. Without a key the plane stays open plain HTTP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { Fetcher } from '../../src/distribute/fetcher.ts';
import { PeerClient, PeerRequestError } from '../../src/distribute/peer-client.ts';
import { TransferStats } from '../../src/distribute/transfer-stats.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { buildPeerApp } from '../../src/http/peer-app.ts';
import { BlobService } from '../../src/distribute/blob-service.ts';
import { digestOf, type Digest } from '../../src/oci/index.ts';
import { Store } from '../../src/store/index.ts';
import { generateClusterKey, parseClusterKey, peerTlsClientOptions, peerTlsServerOptions, type ClusterKey } from '../../src/swarm/index.ts';
import { CountingSeed, silentLogger, stubRouter } from '../helpers/fake-peer.ts';

const BLOB_BYTES = 1024 * 1024;

interface Plane {
  readonly app: FastifyInstance;
  readonly port: number;
  close(): Promise<void>;
}

async function startPlane(store: Store, key: ClusterKey | undefined): Promise<Plane> {
  const stats = new TransferStats();
  const fetcher = new Fetcher({ store, seed: new CountingSeed().sourceFor('h'), router: stubRouter(false), logger: silentLogger, stats });
  const app = buildPeerApp({ blobs: new BlobService(store, fetcher), stats, metrics: createMetrics(stats, fetcher, undefined), logger: silentLogger, members: { peers: () => [] }, ...(key ? { tls: peerTlsServerOptions(key) } : {}) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    port: (app.server.address() as AddressInfo).port,
    close: async () => {
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
    },
  };
}

/** A TCP relay that forwards to `port` and keeps every byte each way, as a LAN sniffer would. */
async function startRelay(port: number): Promise<{ port: number; toServer: Buffer[]; toClient: Buffer[]; server: Server }> {
  const toServer: Buffer[] = [];
  const toClient: Buffer[] = [];
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    client.on('data', (chunk: Buffer) => toServer.push(chunk));
    upstream.on('data', (chunk: Buffer) => toClient.push(chunk));
    client.pipe(upstream).on('error', () => client.destroy());
    upstream.pipe(client).on('error', () => upstream.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, toServer, toClient, server };
}

/** Writes raw bytes to the port and returns everything that comes back until the server closes (or 3 s pass). */
async function rawExchange(port: number, bytes: Buffer): Promise<Buffer> {
  const socket = connect(port, '127.0.0.1');
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.write(bytes);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => { socket.destroy(); resolve(); }, 3_000);
    socket.once('close', () => { clearTimeout(timer); resolve(); });
    socket.once('error', () => undefined);
  });
  return Buffer.concat(received);
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** True when any 32-byte window of `needle` (sampled every 4 KiB) appears in the haystack. */
function containsPieceOf(haystack: Buffer, needle: Buffer): boolean {
  for (let at = 0; at + 32 <= needle.length; at += 4096) if (haystack.includes(needle.subarray(at, at + 32))) return true;
  return false;
}

describe('peer data plane with a cluster key', () => {
  let dir: string;
  let store: Store;
  let plane: Plane;
  let content: Buffer;
  let digest: Digest;
  const key = parseClusterKey(generateClusterKey());

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-peer-tls-'));
    ({ store } = await Store.open(dir));
    content = randomBytes(BLOB_BYTES);
    digest = digestOf(content);
    await store.blobs.put(content);
    plane = await startPlane(store, key);
  });
  after(async () => {
    await plane?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a member fetches over TLS; a sniffer sees no layer byte, and replaying what it saw gets nothing', async () => {
    const relay = await startRelay(plane.port);
    const member = new PeerClient({ tls: peerTlsClientOptions(key) });
    try {
      const body = await readAll(await member.fetchRange(`https://127.0.0.1:${relay.port}`, digest, { start: 0, end: BLOB_BYTES - 1 }));
      assert.ok(body.equals(content), 'the member got the blob');
    } finally {
      await member.close();
      relay.server.close();
    }
    const sentByClient = Buffer.concat(relay.toServer);
    const sentByServer = Buffer.concat(relay.toClient);
    assert.ok(sentByServer.length > BLOB_BYTES, 'the bytes went through the relay');
    assert.equal(containsPieceOf(sentByServer, content), false, 'layer bytes are not readable on the wire');
    for (const text of ['/blobs/', digest.hex, 'authorization', 'range:']) assert.equal(sentByClient.includes(text), false, `"${text}" is not readable on the wire`);

    // The stranger replays the member's whole side of the conversation: the handshake cannot
    // complete (fresh server random), so no byte of the blob, nor any HTTP answer, comes back.
    const replayed = await rawExchange(plane.port, sentByClient);
    assert.equal(containsPieceOf(replayed, content), false);
    assert.equal(replayed.includes('HTTP/1.1'), false, 'no HTTP answer to a replay');
  });

  test('the key exchange is ephemeral and at least 2048-bit (forward secrecy that OpenSSL\'s defaults accept)', async () => {
    const info = await new Promise<{ cipher: string; type: string | undefined; size: number | undefined }>((resolve, reject) => {
      const socket = tlsConnect({ ...peerTlsClientOptions(key), host: '127.0.0.1', port: plane.port }, () => {
        const ephemeral = socket.getEphemeralKeyInfo();
        resolve({ cipher: socket.getCipher().name, type: ephemeral && 'type' in ephemeral ? ephemeral.type : undefined, size: ephemeral && 'size' in ephemeral ? ephemeral.size : undefined });
        socket.destroy();
      });
      socket.on('error', reject);
    });
    assert.match(info.cipher, /^(ECDHE|DHE)-PSK-/);
    assert.ok(info.type === 'ECDH' || (info.type === 'DH' && (info.size ?? 0) >= 2048), `ephemeral key ${JSON.stringify(info)}`);
  });

  test('a stranger gets nothing: plain HTTP with any header, TLS without the key, TLS with another key', async () => {
    const plain = await rawExchange(plane.port, Buffer.from(`GET /blobs/${digest.value} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer anything\r\n\r\n`));
    assert.equal(plain.includes('HTTP/1.1 2'), false, `plain HTTP got: ${plain.toString('latin1').slice(0, 80)}`);
    assert.equal(containsPieceOf(plain, content), false);

    // An ordinary TLS client (what curl -k would offer): no PSK, no common cipher suite.
    await assert.rejects(new Promise((resolve, reject) => {
      const socket = tlsConnect({ port: plane.port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(socket));
      socket.once('error', reject);
    }));

    const other = new PeerClient({ tls: peerTlsClientOptions(parseClusterKey(generateClusterKey())) });
    try {
      await assert.rejects(other.fetchRange(`https://127.0.0.1:${plane.port}`, digest, { start: 0, end: 99 }), PeerRequestError);
    } finally {
      await other.close();
    }
  });

  test('/metrics: plain HTTP and other keys get nothing; a member reads them over TLS', async () => {
    const plain = await rawExchange(plane.port, Buffer.from('GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n'));
    assert.equal(plain.includes('shoal_'), false);
    assert.equal(plain.includes('HTTP/1.1 2'), false);
    const { Agent } = await import('undici');
    const agent = new Agent({ connect: peerTlsClientOptions(key) });
    try {
      const response = await request(`https://127.0.0.1:${plane.port}/metrics`, { dispatcher: agent });
      assert.equal(response.statusCode, 200);
      assert.match(await response.body.text(), /shoal_peer_served_bytes_total/);
    } finally {
      await agent.close();
    }
  });

  test('a keyed client never sends a request in the clear', async () => {
    const member = new PeerClient({ tls: peerTlsClientOptions(key) });
    const listener = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    let connected = false;
    listener.on('connection', () => { connected = true; });
    try {
      await assert.rejects(member.fetchRange(`http://127.0.0.1:${(listener.address() as AddressInfo).port}`, digest, { start: 0, end: 9 }), /TLS only/);
      assert.equal(connected, false);
    } finally {
      await member.close();
      listener.close();
    }
  });
});

describe('peer data plane without a cluster key (open swarm)', () => {
  test('stays plain HTTP: blobs and /metrics to anyone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-peer-open-'));
    const { store } = await Store.open(dir);
    const content = randomBytes(4096);
    await store.blobs.put(content);
    const plane = await startPlane(store, undefined);
    const client = new PeerClient();
    try {
      assert.ok((await readAll(await client.fetchRange(`http://127.0.0.1:${plane.port}`, digestOf(content), { start: 0, end: 4095 }))).equals(content));
      const metrics = await request(`http://127.0.0.1:${plane.port}/metrics`);
      assert.equal(metrics.statusCode, 200);
      await metrics.body.text();
    } finally {
      await client.close();
      await plane.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
