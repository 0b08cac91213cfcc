// Hosts of a swarm in one process, for distribute's tests: each a Store in a temp dir, a
// MemorySwarm on a shared MemoryNetwork, a Fetcher and the real peer data plane listening on
// loopback, wired like src/daemon (store commits become `have` announcements). Plus a counting
// in-memory seed, and fake peers that announce a blob and then lie about it or die mid-transfer.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { BlobService } from '../../src/distribute/blob-service.ts';
import { Fetcher, type FetcherInit } from '../../src/distribute/fetcher.ts';
import { PeerClient, type PeerClientInit } from '../../src/distribute/peer-client.ts';
import { DEFAULT_PIECE_SIZE } from '../../src/distribute/piece-size.ts';
import { TransferStats } from '../../src/distribute/transfer-stats.ts';
import type { BlobSource, BlobWant, UpstreamRouter } from '../../src/distribute/types.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { buildPeerApp } from '../../src/http/peer-app.ts';
import type { PeerServerLimits } from '../../src/http/peer-server.ts';
import { TransferLimits, type TransferLimitsInit } from '../../src/distribute/rate-limit.ts';
import { ServeSlots } from '../../src/distribute/serve-slots.ts';
import { digestOf, parseRangeHeader, type ByteRange, type Digest } from '../../src/oci/index.ts';
import { Store } from '../../src/store/index.ts';
import { MemoryNetwork, MemorySwarm, type InventoryEntry, type SwarmApi } from '../../src/swarm/index.ts';
import { MemoryUpstream } from '../../src/upstream/memory-upstream.ts';
import { eventually } from './eventually.ts';
import { partialsDir } from '../../src/store/kept-partial.ts';

export const REPOSITORY = 'library/app';
/** Silent unless SHOAL_TEST_LOG names a level (to see the fetch's decisions while debugging). */
export const silentLogger = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' }, pino.destination(2));

const SEED_CHUNK = 64 * 1024;

/**
 * The seed registry as a BlobSource: serves the blobs it was given, with Range, and counts the
 * bytes it sent to each host (as the stream produces them).
 */
export class CountingSeed {
  readonly blobs = new Map<string, Buffer>();
  readonly served = new Map<string, number>();
  /** Opens per host, for tests that check who asked. */
  readonly opens = new Map<string, number>();
  /** Size look-ups (HEAD) per host. */
  readonly heads = new Map<string, number>();
  /** Reads open now, and the most open at once, per host. */
  readonly reading = new Map<string, number>();
  readonly mostReading = new Map<string, number>();
  /** Every range asked for, in order (for diagnostics). */
  readonly log: Array<{ readonly host: string; readonly digest: string; readonly start: number; readonly end: number; readonly at: number }> = [];

  /** Milliseconds between the seed's 64 KiB chunks (0: as fast as the reader takes them). */
  readonly chunkDelayMs: number;
  /** Milliseconds a size look-up (HEAD) takes: a seed link busy with other hosts' reads. */
  readonly headDelayMs: number;
  /** Milliseconds before a read's first byte: a busy seed answering late. */
  readonly openDelayMs: number;

  constructor(init: { readonly chunkDelayMs?: number; readonly headDelayMs?: number; readonly openDelayMs?: number } = {}) {
    this.chunkDelayMs = init.chunkDelayMs ?? 0;
    this.headDelayMs = init.headDelayMs ?? 0;
    this.openDelayMs = init.openDelayMs ?? 0;
  }

  add(content: Buffer): Digest {
    const digest = digestOf(content);
    this.blobs.set(digest.value, content);
    return digest;
  }

  total(): number {
    let sum = 0;
    for (const bytes of this.served.values()) sum += bytes;
    return sum;
  }

  sourceFor(host: string): BlobSource {
    return {
      kind: 'seed',
      size: async (want: BlobWant) => {
        this.heads.set(host, (this.heads.get(host) ?? 0) + 1);
        if (this.headDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.headDelayMs));
        return this.blobs.get(want.digest.value)?.length;
      },
      open: async (want: BlobWant, range?: ByteRange) => {
        this.opens.set(host, (this.opens.get(host) ?? 0) + 1);
        const content = this.blobs.get(want.digest.value);
        if (content === undefined) return undefined;
        const start = range?.start ?? 0;
        const end = Math.min(range?.end ?? content.length - 1, content.length - 1);
        this.log.push({ host, digest: want.digest.value, start, end, at: Date.now() });
        if (this.openDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.openDelayMs));
        const { served, reading, mostReading } = this;
        const delay = this.chunkDelayMs;
        reading.set(host, (reading.get(host) ?? 0) + 1);
        mostReading.set(host, Math.max(mostReading.get(host) ?? 0, reading.get(host)!));
        async function* bytes(): AsyncGenerator<Buffer> {
          try {
            for (let at = start; at <= end; at += SEED_CHUNK) {
              if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
              const chunk = content!.subarray(at, Math.min(end + 1, at + SEED_CHUNK));
              served.set(host, (served.get(host) ?? 0) + chunk.length);
              yield chunk;
            }
          } finally {
            reading.set(host, reading.get(host)! - 1);
          }
        }
        return { size: content.length, stream: Readable.from(bytes(), { objectMode: false, highWaterMark: SEED_CHUNK }) };
      },
    };
  }
}

/** A router that maps every repository to one upstream (so repositories count as seeded), or to none. */
export function stubRouter(seeded: boolean): UpstreamRouter {
  // Named only: blobs come from the CountingSeed; the twin answers "not there" to anything else.
  const upstream = new MemoryUpstream('http://seed.invalid');
  return { upstreams: seeded ? [upstream] : [], targets: (name) => (seeded ? [{ upstream, remoteName: name }] : []), repository: (name) => name, qualifiedName: (name) => name };
}

export interface HostInit {
  readonly name: string;
  /** The swarm's peer id (default: a random one): for a test that must know who owns what before the host joins. */
  readonly peerId?: string;
  readonly network: MemoryNetwork;
  readonly seed: CountingSeed;
  /** Whether repositories map to the seed. Default true. */
  readonly seeded?: boolean;
  readonly fetcher?: FetcherInit;
  readonly peerClient?: PeerClientInit;
  /** The fetcher's logger (default: silent). */
  readonly logger?: Logger;
  /** Blobs on disk before the swarm starts (announced in the inventory). */
  readonly holds?: readonly Buffer[];
  /** Bandwidth caps and piece requests served at once, wired like the daemon's. */
  readonly limits?: TransferLimitsInit;
  readonly maxPeerServes?: number;
  /** The data plane's connection caps and timeouts (default: the daemon's). */
  readonly peerConnections?: Partial<PeerServerLimits>;
}

export interface Host {
  readonly name: string;
  readonly dir: string;
  readonly store: Store;
  readonly swarm: MemorySwarm;
  readonly fetcher: Fetcher;
  readonly stats: TransferStats;
  readonly app: FastifyInstance;
  readonly url: string;
  readonly slots: ServeSlots;
  /** Fetches the blob like a pull would, waits for verification, and returns the stored bytes. */
  fetch(digest: Digest): Promise<Buffer | undefined>;
  tmpFiles(): Promise<string[]>;
  close(): Promise<void>;
}

async function* inventory(store: Store): AsyncGenerator<InventoryEntry> {
  for await (const { digest, size } of store.blobs.list()) yield { digest: digest.value, size };
}

/** A started host, wired like src/daemon/services.ts and swarm-wiring.ts. */
export async function startHost(init: HostInit): Promise<Host> {
  const dir = await mkdtemp(join(tmpdir(), `shoal-host-${init.name}-`));
  const cleanups: Array<() => Promise<unknown> | unknown> = [() => rm(dir, { recursive: true, force: true })];
  try {
    const { store } = await Store.open(dir);
    for (const content of init.holds ?? []) await store.blobs.put(content);
    const stats = new TransferStats();
    const peers = new PeerClient(init.peerClient ?? {});
    cleanups.unshift(() => peers.close());
    // Constructed, then listening, then started, as in the daemon: the swarm learns its data URL at start.
    const swarm = new MemorySwarm({ network: init.network, peerId: init.peerId, inventory: () => inventory(store), pieceSize: init.fetcher?.pieceSize ?? DEFAULT_PIECE_SIZE });
    const fetcher = new Fetcher(
      { store, seed: init.seed.sourceFor(init.name), router: stubRouter(init.seeded ?? true), logger: init.logger ?? silentLogger, swarm, peers, stats, limits: new TransferLimits(init.limits) },
      // Hosts here are meshed before they fetch (see meshed()): no start-up settle needed.
      { membershipSettleMs: 0, ...init.fetcher },
    );
    const metrics = createMetrics(stats, fetcher, swarm);
    const slots = new ServeSlots(init.maxPeerServes);
    slots.onChange((load) => swarm.reportLoad(load));
    const app = buildPeerApp({ blobs: new BlobService(store, fetcher), stats, metrics, logger: silentLogger, upload: { slots, upload: fetcher.limits.upload }, members: swarm, ...(init.peerConnections ? { connections: init.peerConnections } : {}) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.unshift(async () => {
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
    });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const unsubscribe = store.blobs.onCommitted((digest, size) => swarm.announceHave(digest.value, size));
    cleanups.unshift(() => unsubscribe());
    await swarm.start({ url });
    cleanups.unshift(() => swarm.stop());
    return {
      name: init.name,
      dir,
      store,
      swarm,
      fetcher,
      stats,
      app,
      url,
      slots,
      async fetch(digest) {
        const settled = stats.blobsFetched + stats.blobsFailed;
        const partial = await fetcher.fetch({ name: REPOSITORY, digest });
        await partial?.done();
        // The fetch links the blob into the repository and counts it just after the commit.
        if (partial) await eventually(() => stats.blobsFetched + stats.blobsFailed > settled, 5_000, `${init.name}'s fetch to finish`);
        return store.blobs.read(digest);
      },
      tmpFiles: async () => [...await readdir(store.layout.tmp), ...await readdir(partialsDir(store.layout)).catch(() => [])],
      close: () => runCleanups(cleanups),
    };
  } catch (error) {
    await runCleanups(cleanups);
    throw error;
  }
}

async function runCleanups(cleanups: Array<() => Promise<unknown> | unknown>): Promise<void> {
  for (const cleanup of cleanups.splice(0)) await Promise.resolve().then(cleanup).catch(() => undefined);
}

/** Every swarm has every other as a synced peer. */
export async function meshed(swarms: readonly SwarmApi[]): Promise<void> {
  await eventually(() => swarms.every((s) => s.peers().filter((p) => p.synced).length === swarms.length - 1), 10_000, 'a synced full mesh');
}

export type FakeBehaviour =
  /** Answers every range with these bytes instead (same length): a liar. */
  | { readonly kind: 'corrupt'; readonly corrupt: (bytes: Buffer, start: number) => Buffer }
  /** Sends correct bytes until `afterBytes` have gone out in total, then dies: sockets destroyed, server closed, swarm gone. */
  | { readonly kind: 'die'; readonly afterBytes: number }
  /** Refuses every connection (the data plane is down; the swarm still announces the blob). */
  | { readonly kind: 'unreachable' }
  /** Answers the first `times` requests 503 busy (Retry-After), then serves correct bytes. */
  | { readonly kind: 'busy'; readonly times: number }
  /** Serves correct bytes slowly: 16 KiB every `chunkDelayMs` per request. */
  | { readonly kind: 'trickle'; readonly chunkDelayMs: number }
  /** Answers with headers and `bytes` correct bytes, then sends nothing more (the socket stays open). */
  | { readonly kind: 'stall'; readonly bytes: number };

export interface FakePeer {
  readonly swarm: MemorySwarm;
  readonly url: string;
  /** Bytes of blob data written to sockets. */
  readonly sent: () => number;
  readonly requests: () => number;
  /** Blob requests it is answering now. */
  readonly answering: () => number;
  readonly dead: () => boolean;
  close(): Promise<void>;
}

/**
 * A peer that announces it holds `content` (complete) and serves the peer data plane's
 * GET /blobs/<digest> with Range, badly: see FakeBehaviour.
 */
export async function startFakePeer(network: MemoryNetwork, content: Buffer, behaviour: FakeBehaviour, options: { readonly pieceSize?: number } = {}): Promise<FakePeer> {
  const digest = digestOf(content);
  const sockets = new Set<Socket>();
  let sent = 0;
  let requests = 0;
  let answering = 0;
  let dead = false;
  let swarm: MemorySwarm | undefined;
  const die = (): void => {
    if (dead) return;
    dead = true;
    for (const socket of sockets) socket.destroy();
    server.close();
    void swarm?.stop();
  };
  const server: Server = createServer((request, response) => {
    requests += 1;
    if (behaviour.kind === 'unreachable' || dead) return void request.socket.destroy();
    // The query (a reader's `from`, an owner ask) is a shoal data plane's to read; a fake holder ignores it.
    if (new URL(request.url ?? '/', 'http://peer').pathname !== `/blobs/${digest.value}`) return void response.writeHead(404).end();
    if (behaviour.kind === 'busy' && requests <= behaviour.times) return void response.writeHead(503, { 'retry-after': '1', 'content-length': 0 }).end();
    const range = parseRangeHeader(request.headers.range, content.length) ?? { start: 0, end: content.length - 1 };
    const bytes = content.subarray(range.start, range.end + 1);
    const body = behaviour.kind === 'corrupt' ? behaviour.corrupt(Buffer.from(bytes), range.start) : bytes;
    response.writeHead(request.headers.range ? 206 : 200, {
      'content-type': 'application/octet-stream',
      'content-length': body.length,
      'docker-content-digest': digest.value,
      ...(request.headers.range ? { 'content-range': `bytes ${range.start}-${range.end}/${content.length}` } : {}),
    });
    answering += 1;
    let answered = false;
    const finished = (): void => {
      if (!answered) answering -= 1;
      answered = true;
    };
    response.once('close', finished);
    if (behaviour.kind === 'die') void sendThenDie(response, body, behaviour.afterBytes);
    else if (behaviour.kind === 'trickle') void trickle(response, body, behaviour.chunkDelayMs, finished);
    else if (behaviour.kind === 'stall') {
      const part = body.subarray(0, behaviour.bytes);
      sent += part.length;
      response.write(part);
    }
    else {
      sent += body.length;
      response.end(body);
    }
  });
  /** 16 KiB every `delayMs`; the answer counts as done with its last byte (the asker has it all then). */
  async function trickle(response: ServerResponse, body: Buffer, delayMs: number, finished: () => void): Promise<void> {
    for (let at = 0; at < body.length && !dead; at += 16 * 1024) {
      const part = body.subarray(at, at + 16 * 1024);
      sent += part.length;
      if (at + part.length >= body.length) {
        finished();
        return void response.end(part);
      }
      if (!response.write(part)) await new Promise((resolve) => response.once('drain', resolve));
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
  async function sendThenDie(response: ServerResponse, body: Buffer, afterBytes: number): Promise<void> {
    for (let at = 0; at < body.length && !dead; at += 16 * 1024) {
      const chunk = body.subarray(at, at + 16 * 1024);
      const room = afterBytes - sent;
      if (room <= 0) return die();
      const part = chunk.subarray(0, Math.min(chunk.length, room));
      sent += part.length;
      if (!response.write(part)) await new Promise((resolve) => response.once('drain', resolve));
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (!dead) response.end();
  }
  server.on('connection', (socket) => {
    if (behaviour.kind === 'unreachable') return void socket.destroy();
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // With a piece size it is a member that owns pieces too, not only a holder.
  swarm = new MemorySwarm({ network, inventory: () => [{ digest: digest.value, size: content.length }], dataUrl: url, ...(options.pieceSize !== undefined ? { pieceSize: options.pieceSize } : {}) });
  await swarm.start();
  return {
    swarm,
    url,
    sent: () => sent,
    requests: () => requests,
    answering: () => answering,
    dead: () => dead,
    async close() {
      dead = true;
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      await swarm?.stop();
    },
  };
}
