// The peer data plane (buildPeerApp, on loopback, in hosts of fake-peer.ts joined by a MemorySwarm)
// against hosts that are not peers: an owner ask (which makes the node fetch from its seed with its
// own credentials) is answered only for a member of its swarm (audit F2), and a connection that
// sends nothing is closed after a short time, plain or TLS (audit F1), while a member's piece that
// streams slowly from the seed is never cut.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { buffer } from 'node:stream/consumers';
import { BlobService } from '../../src/distribute/blob-service.ts';
import { Fetcher } from '../../src/distribute/fetcher.ts';
import { PeerClient } from '../../src/distribute/peer-client.ts';
import { TransferStats } from '../../src/distribute/transfer-stats.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { buildPeerApp } from '../../src/http/peer-app.ts';
import { digestOf } from '../../src/oci/index.ts';
import { Store } from '../../src/store/index.ts';
import { generateClusterKey, parseClusterKey, MemoryNetwork, peerTlsServerOptions } from '../../src/swarm/index.ts';
import { CountingSeed, REPOSITORY, meshed, silentLogger, startHost, stubRouter, type Host } from '../helpers/fake-peer.ts';

const KiB = 1024;
/** Far below the audit's 60-90 s (plain) and 120 s (TLS), far above the 10 s a connection now gets. */
const CLOSED_WITHIN_MS = 45_000;

const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function hosts(seed: CountingSeed, init: Partial<Parameters<typeof startHost>[0]> = {}): Promise<[Host, Host]> {
  const network = new MemoryNetwork();
  const owner = await startHost({ name: 'owner', network, seed, ...init });
  cleanups.push(() => owner.close());
  const member = await startHost({ name: 'member', network, seed });
  cleanups.push(() => member.close());
  await meshed([owner.swarm, member.swarm]);
  return [owner, member];
}

function request(url: string): Promise<{ status: number | undefined; body: string }> {
  return new Promise((resolve) => {
    get(url, { agent: false, headers: { range: 'bytes=0-99' } }, (response) => {
      let body = '';
      response.setEncoding('latin1').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve({ status: response.statusCode, body }));
    }).on('error', () => resolve({ status: undefined, body: '' }));
  });
}

/** Opens a connection that never sends a byte; resolves with how long the server kept it and what it said. */
async function silentConnection(port: number): Promise<{ heldMs: number; said: string }> {
  const socket = connect(port, '127.0.0.1');
  const opened = Date.now();
  let said = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (said += chunk));
  socket.on('error', () => undefined);
  const timer = setTimeout(() => socket.destroy(), CLOSED_WITHIN_MS + 5_000);
  await new Promise((resolve) => socket.once('close', resolve));
  clearTimeout(timer);
  return { heldMs: Date.now() - opened, said };
}

describe('owner asks on the peer port', () => {
  test('a host that is not a member is refused (403 DENIED, the seed untouched); a member\'s ask is served; plain reads stay open', async () => {
    const seed = new CountingSeed();
    const content = randomBytes(300 * KiB);
    const digest = seed.add(content);
    const held = randomBytes(10 * KiB);
    const [owner, member] = await hosts(seed, { holds: [held] });
    const ask = `${owner.url}/blobs/${digest.value}?repository=${encodeURIComponent(REPOSITORY)}&size=${content.length}`;

    for (const url of [ask, `${ask}&from=12D3KooWStrangerNotInTheSwarm`]) {
      const refused = await request(url);
      assert.equal(refused.status, 403, url);
      const body = JSON.parse(refused.body) as { errors: Array<{ code: string; message: string }> };
      assert.equal(body.errors[0]!.code, 'DENIED');
      assert.match(body.errors[0]!.message, /member/);
    }
    assert.equal(seed.opens.get('owner') ?? 0, 0, 'a stranger made the owner open nothing at the seed');
    assert.equal(seed.heads.get('owner') ?? 0, 0);

    // As the piece engine asks an owner: with its own peer id, from its own address.
    const client = new PeerClient();
    cleanups.push(() => client.close());
    const bytes = await buffer(await client.fetchRange(owner.url, digest, { start: 0, end: content.length - 1 }, undefined, { repository: REPOSITORY, size: content.length, from: member.swarm.peerId }));
    assert.ok(bytes.equals(content), 'the member got the blob through its owner');
    assert.ok((seed.opens.get('owner') ?? 0) > 0, 'fetched from the seed by the owner');

    const read = await request(`${owner.url}/blobs/${digestOf(held).value}`);
    assert.equal(read.status, 206, 'a read of a blob the host holds needs no membership');
  });
});

describe('connections that send nothing', () => {
  test('a plain connection is closed with 408 after the short headers timeout', async () => {
    const [owner] = await hosts(new CountingSeed());
    const { heldMs, said } = await silentConnection((owner.app.server.address() as AddressInfo).port);
    assert.ok(heldMs < CLOSED_WITHIN_MS, `held ${heldMs} ms`);
    assert.match(said, /^HTTP\/1\.1 408/);
  });

  test('with a cluster key, a connection that never starts its TLS handshake is dropped after the short handshake timeout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-peer-guard-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { store } = await Store.open(dir);
    const stats = new TransferStats();
    const fetcher = new Fetcher({ store, seed: new CountingSeed().sourceFor('h'), router: stubRouter(false), logger: silentLogger, stats });
    const key = parseClusterKey(generateClusterKey());
    const app = buildPeerApp({ blobs: new BlobService(store, fetcher), stats, metrics: createMetrics(stats, fetcher, undefined), logger: silentLogger, members: { peers: () => [] }, tls: peerTlsServerOptions(key) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(async () => {
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
    });
    const { heldMs } = await silentConnection((app.server.address() as AddressInfo).port);
    assert.ok(heldMs < CLOSED_WITHIN_MS, `held ${heldMs} ms`);
  });

  test('a member\'s piece streaming slowly from the seed outlasts every timeout and arrives whole', async () => {
    // 8 chunks of 64 KiB, 400 ms apart: over 3 s of body, ten times the headers timeout set here.
    const seed = new CountingSeed({ chunkDelayMs: 400 });
    const content = randomBytes(8 * 64 * KiB);
    const digest = seed.add(content);
    const [owner, member] = await hosts(seed, { peerConnections: { headersTimeoutMs: 300, handshakeTimeoutMs: 300 } });
    const client = new PeerClient();
    cleanups.push(() => client.close());
    const started = Date.now();
    const bytes = await buffer(await client.fetchRange(owner.url, digest, { start: 0, end: content.length - 1 }, undefined, { repository: REPOSITORY, size: content.length, from: member.swarm.peerId }));
    assert.ok(bytes.equals(content));
    assert.ok(Date.now() - started > 1_000, 'the body was slow');
    // ... and the short timeout was on all along.
    assert.ok((await silentConnection((owner.app.server.address() as AddressInfo).port)).heldMs < CLOSED_WITHIN_MS);
  });
});
