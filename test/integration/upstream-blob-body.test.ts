// Blob GETs to the seed go through the HTTP/1.1 body client (lib/http1-client.ts), everything else
// through undici: the body comes in the piece engine's write batches, over TLS with the same trust
// as every other request (docker-registry serving HTTPS), and a seed or storage that answers
// chunked, with 5xx or goes silent mid-body fails or works as it did through undici.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { WRITE_BATCH_BYTES } from '../../src/distribute/piece-run.ts';
import { RANGE_EAGER_BYTES } from '../../src/distribute/range-first.ts';
import { parseDigest } from '../../src/oci/index.ts';
import { UpstreamError, UpstreamUnavailableError } from '../../src/upstream/errors.ts';
import { RegistryClient } from '../../src/upstream/registry-client.ts';
import { BLOB_BATCH_BYTES, BLOB_EAGER_BYTES } from '../../src/upstream/transport.ts';
import { makeImage, pushImage, sha256, type TestImage } from '../helpers/images.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { tlsFixtures, type TlsFixtures } from '../helpers/tls-seeds.ts';

const MiB = 1024 * 1024;

/** The chunks as pushed ('data': an async iterator would join the ones buffered). */
function chunksOf(stream: Readable): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(chunks));
    stream.once('error', reject);
  });
}

const digestOf = (chunks: readonly Buffer[]): string => {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
};

async function listen(server: Server | NetServer): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('blob bodies come in the piece engine\'s batch sizes', () => {
  assert.equal(BLOB_BATCH_BYTES, WRITE_BATCH_BYTES);
  assert.equal(BLOB_EAGER_BYTES, RANGE_EAGER_BYTES);
});

describe('blob GETs from docker-registry', () => {
  let seed: SeedRegistry;
  let image: TestImage;
  before(async () => {
    seed = await startSeedRegistry();
    image = await makeImage({ layers: [3 * MiB + 1000], seed: 'blob-body' });
    await pushImage(seed.url, 'big', 'v1', image);
  });
  after(async () => {
    await seed?.stop();
    await image?.cleanup();
  });

  test('the body comes read by read up to the eager bytes, then in write batches that end at multiples of the batch size', async () => {
    const client = new RegistryClient({ url: seed.url });
    try {
      const layer = image.layers[0]!;
      const blob = await client.getBlob('big', parseDigest(layer.digest));
      const chunks = await chunksOf(blob!.stream);
      assert.equal(digestOf(chunks), layer.digest);
      let passed = 0;
      const batched: number[] = [];
      for (const chunk of chunks) {
        if (passed < BLOB_EAGER_BYTES) assert.ok(passed + chunk.length <= BLOB_EAGER_BYTES, 'eager chunks stop at the eager bytes');
        else batched.push(chunk.length);
        passed += chunk.length;
      }
      // 3 MiB + 1000 bytes: the batch after the eager bytes makes up the first 512 KiB, so no
      // write of a piece-aligned transfer straddles a piece's end.
      const whole = Math.floor(layer.size / BLOB_BATCH_BYTES);
      assert.deepEqual(batched, [BLOB_BATCH_BYTES - BLOB_EAGER_BYTES, ...Array<number>(whole - 1).fill(BLOB_BATCH_BYTES), layer.size % BLOB_BATCH_BYTES]);
    } finally {
      await client.close();
    }
  });
});

describe('blob GETs over TLS', () => {
  let f: TlsFixtures;
  before(async () => {
    f = await tlsFixtures('shoal-blob-tls-');
  });
  after(() => f?.cleanup());

  const certsDirWith = async (host: string, files: Record<string, string>): Promise<string> => {
    const certsDir = await mkdtemp(join(f.dir, 'certs.d-'));
    await mkdir(join(certsDir, host));
    for (const [name, from] of Object.entries(files)) await copyFile(from, join(certsDir, host, name));
    return certsDir;
  };
  const blobDigest = (): string => f.image.layers[0]!.digest;
  const fetchBlob = async (client: RegistryClient): Promise<string> => {
    try {
      const blob = await client.getBlob('library/hello', parseDigest(blobDigest()));
      return digestOf(await chunksOf(blob!.stream));
    } finally {
      await client.close();
    }
  };

  test('a self-signed seed: refused with the fix, then trusted through certs.d', async () => {
    const seed = await f.serve({ certificate: f.selfSigned.cert, key: f.selfSigned.key });
    await assert.rejects(fetchBlob(new RegistryClient({ url: seed.url, certsDir: join(f.dir, 'no-certs.d') })), (error: Error) => {
      assert.ok(error instanceof UpstreamUnavailableError, String(error));
      assert.match(error.message, /DEPTH_ZERO_SELF_SIGNED_CERT/);
      assert.match(error.message, new RegExp(`certs\\.d/${seed.host}/ca\\.crt`));
      return true;
    });
    const certsDir = await certsDirWith(seed.host, { 'ca.crt': f.selfSigned.cert });
    assert.equal(await fetchBlob(new RegistryClient({ url: seed.url, certsDir })), blobDigest());
  });

  test('mutual TLS: with the client certificate the blob comes; without one, the error says what to give', async () => {
    const seed = await f.serve({ certificate: f.leaf.cert, key: f.leaf.key, clientCas: [f.clientCa.cert], helperClient: f.client });
    await assert.rejects(fetchBlob(new RegistryClient({ url: seed.url, tls: { caFile: f.ca.cert } })), /the seed requires a client certificate: give --upstream-client-cert and --upstream-client-key/);
    const tls = { caFile: f.ca.cert, clientCertFile: f.client.cert, clientKeyFile: f.client.key };
    assert.equal(await fetchBlob(new RegistryClient({ url: seed.url, tls })), blobDigest());
  });

  test('a certificate for another name is refused with its fix; skip-verify accepts it', async () => {
    const seed = await f.serve({ certificate: f.wrongName.cert, key: f.wrongName.key });
    await assert.rejects(fetchBlob(new RegistryClient({ url: seed.url, tls: { caFile: f.ca.cert } })), /ERR_TLS_CERT_ALTNAME_INVALID: the seed's certificate is not issued for 127\.0\.0\.1/);
    assert.equal(await fetchBlob(new RegistryClient({ url: seed.url, tls: { skipVerify: true } })), blobDigest());
  });
});

describe('blob GETs from a registry that answers oddly', () => {
  const blob = Buffer.from('0123456789abcdefghij');
  const digest = sha256(blob);
  const servers: Array<Server | NetServer> = [];
  let client: RegistryClient;

  before(async () => {
    // Storage that answers ranges chunked (no Content-Length), as an object store behind a CDN may.
    const storage = createServer((req, res) => {
      const [start, end] = (/^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') ?? []).slice(1).map(Number);
      if (start === undefined || end === undefined) return void res.writeHead(200).end(blob);
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${blob.length}` });
      for (let at = start; at <= end; at += 3) res.write(blob.subarray(at, Math.min(at + 3, end + 1)));
      res.end();
    });
    const storageUrl = await listen(storage);
    // Answers the blob's head, then nothing more.
    const silent = createNetServer((socket) => {
      socket.on('data', () => socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${blob.length}\r\n\r\n0123`));
      socket.on('error', () => undefined);
    });
    const silentUrl = await listen(silent);
    const registry = createServer((req, res) => {
      const path = req.url!;
      if (path === `/v2/chunked/blobs/${digest}`) return void res.writeHead(307, { location: `${storageUrl}/object` }).end();
      if (path === `/v2/busy/blobs/${digest}`) return void res.writeHead(503, { 'retry-after': '3' }).end('busy');
      if (path === `/v2/stall/blobs/${digest}`) return void res.writeHead(302, { location: `${silentUrl}/object` }).end();
      res.writeHead(404).end();
    });
    servers.push(storage, silent, registry);
    client = new RegistryClient({ url: await listen(registry), timeoutMs: 2000, bodyIdleTimeoutMs: 300 });
  });

  after(async () => {
    await client?.close();
    for (const server of servers) {
      if ('closeAllConnections' in server) server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('a chunked 206 is read whole; a chunked 200 is refused for its missing length, as before', async () => {
    const part = await client.getBlob('chunked', parseDigest(digest), { start: 4, end: 15 });
    assert.deepEqual(part?.range, { start: 4, end: 15 });
    assert.equal(Buffer.concat(await chunksOf(part!.stream)).toString(), '456789abcdef');
    await assert.rejects(client.getBlob('chunked', parseDigest(digest)), (error: unknown) => error instanceof UpstreamError && /no Content-Length/.test((error as Error).message));
  });

  test('a 503 to a blob GET is UpstreamUnavailableError with its Retry-After', async () => {
    await assert.rejects(client.getBlob('busy', parseDigest(digest)), (error: unknown) => error instanceof UpstreamUnavailableError && error.status === 503 && error.retryAfterMs === 3000);
  });

  test('a body that goes silent fails with UND_ERR_BODY_TIMEOUT, the code the fetch engine logs and resumes on', async () => {
    const stalled = await client.getBlob('stall', parseDigest(digest));
    await assert.rejects(chunksOf(stalled!.stream), (error: Error & { code?: string }) => error.code === 'UND_ERR_BODY_TIMEOUT' && /went silent for 300 ms/.test(error.message));
  });
});
