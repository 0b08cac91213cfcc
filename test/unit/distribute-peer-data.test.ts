// One suite for both implementations of PeerData: the HTTP client against a real peer data plane
// (a host of fake-peer.ts: store, fetcher, buildPeerApp on loopback) and the in-memory twin. What
// the piece engine relies on — exact bytes of a range, and which PeerRequestError for what — holds
// for both, so tests and simulations on the twin say something about the real thing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { buffer } from 'node:stream/consumers';
import { MemoryPeerData, memoryBlobHost } from '../../src/distribute/memory-peer-data.ts';
import { PeerClient } from '../../src/distribute/peer-client.ts';
import { PeerRequestError, type PeerData } from '../../src/distribute/peer-data.ts';
import { digestOf, type Digest } from '../../src/oci/index.ts';
import { MemoryNetwork } from '../../src/swarm/index.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fetcher } from '../../src/distribute/fetcher.ts';
import { Store } from '../../src/store/index.ts';
import { MemorySwarm } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { CountingSeed, REPOSITORY, meshed, silentLogger, startHost, stubRouter } from '../helpers/fake-peer.ts';

interface Subject {
  readonly client: PeerData;
  readonly url: string;
  close(): Promise<void>;
}

const content = randomBytes(3 * 1024 * 1024 + 17);
const digest = digestOf(content);
const missing: Digest = digestOf(Buffer.from('not held by anyone'));

const implementations: Record<string, () => Promise<Subject>> = {
  'PeerClient over HTTP (a real peer data plane)': async () => {
    const host = await startHost({ name: 'holder', network: new MemoryNetwork(), seed: new CountingSeed(), seeded: false, holds: [content] });
    const client = new PeerClient();
    return { client, url: host.url, close: async () => (await client.close(), await host.close()) };
  },
  'MemoryPeerData (the in-memory twin)': async () => {
    const client = new MemoryPeerData();
    client.serve('http://holder.memory', memoryBlobHost(new Map([[digest.value, content]])));
    return { client, url: 'http://holder.memory', close: () => client.close() };
  },
};

const statusOf = (status: number | undefined) => (error: unknown) => error instanceof PeerRequestError && error.status === status;

for (const [name, start] of Object.entries(implementations)) {
  describe(`PeerData: ${name}`, () => {
    let subject: Subject;
    after(() => subject?.close());

    test('the whole blob and any inner range come back byte for byte', async () => {
      subject = await start();
      assert.ok((await buffer(await subject.client.fetchRange(subject.url, digest, { start: 0, end: content.length - 1 }))).equals(content));
      for (const [start, end] of [[0, 0], [1_000_000, 2_500_000], [content.length - 5, content.length - 1]] as const) {
        const got = await buffer(await subject.client.fetchRange(subject.url, digest, { start, end }));
        assert.ok(got.equals(content.subarray(start, end + 1)), `bytes ${start}-${end}`);
      }
    });

    test('a blob the peer does not hold: PeerRequestError 404', async () => {
      await assert.rejects(subject.client.fetchRange(subject.url, missing, { start: 0, end: 9 }), statusOf(404));
    });

    test('a range past the end: PeerRequestError 416', async () => {
      await assert.rejects(subject.client.fetchRange(subject.url, digest, { start: content.length, end: content.length + 9 }), statusOf(416));
    });

    test('nobody at the address: PeerRequestError without a status', async () => {
      await assert.rejects(subject.client.fetchRange('http://127.0.0.1:9', digest, { start: 0, end: 9 }), statusOf(undefined));
    });

    test('an aborted request rejects', async () => {
      const controller = new AbortController();
      controller.abort(new Error('stop'));
      await assert.rejects(subject.client.fetchRange(subject.url, digest, { start: 0, end: 9 }, controller.signal), (e: unknown) => e instanceof Error);
    });
  });
}

describe('MemoryPeerData only', () => {
  test('a busy host answers 503, as the real data plane does past its serve limit', async () => {
    const client = new MemoryPeerData();
    client.serve('memory://busy', memoryBlobHost(new Map([[digest.value, content]]), { busy: () => true }));
    await assert.rejects(client.fetchRange('memory://busy', digest, { start: 0, end: 9 }), statusOf(503));
  });

  test('a host that goes away stops answering', async () => {
    const client = new MemoryPeerData();
    const leave = client.serve('memory://h', memoryBlobHost(new Map([[digest.value, content]])));
    await buffer(await client.fetchRange('memory://h', digest, { start: 0, end: 9 }));
    leave();
    await assert.rejects(client.fetchRange('memory://h', digest, { start: 0, end: 9 }), statusOf(undefined));
  });
});

describe('the piece engine on the twin (no sockets)', () => {
  test('a host fetches a blob from an in-memory holder: verified, committed, none from the seed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-twin-'));
    const network = new MemoryNetwork();
    const peers = new MemoryPeerData();
    peers.serve('http://holder.memory', memoryBlobHost(new Map([[digest.value, content]])));
    const holder = new MemorySwarm({ network, inventory: () => [{ digest: digest.value, size: content.length }] });
    const { store } = await Store.open(dir);
    const swarm = new MemorySwarm({ network, inventory: () => [] });
    const seed = new CountingSeed();
    seed.add(content);
    const fetcher = new Fetcher({ store, seed: seed.sourceFor('a'), router: stubRouter(true), logger: silentLogger, swarm, peers }, { membershipSettleMs: 0, pieceSize: 1024 * 1024 });
    try {
      await holder.start({ url: 'http://holder.memory' });
      await swarm.start({ url: 'http://a.memory' });
      await meshed([holder, swarm]);
      const partial = await fetcher.fetch({ name: REPOSITORY, digest });
      await partial!.done();
      // The fetch links the blob into the repository just after the commit: the temp dir is
      // removed only once that is written (removing it under the write failed with ENOTEMPTY).
      await eventually(() => fetcher.stats.blobsFetched === 1, 5_000, 'the fetch to finish');
      assert.ok((await store.blobs.read(digest))!.equals(content));
      assert.equal(seed.total(), 0, 'every byte from the holder');
      assert.equal(fetcher.stats.bytesFromPeers, content.length);
    } finally {
      fetcher.close();
      await Promise.all([holder.stop(), swarm.stop()]);
      await rm(dir, { recursive: true, force: true, maxRetries: 5 }); // the store may still be writing its link files
    }
  });
});
