// kill -9 in the middle of a pull-through of a large blob from a real docker-registry seed, then
// restart (issue 10, item 11): the fetch goes on from the pieces already on disk. The seed's
// access log shows the restarted fetch as a Range request (206) for the bytes after them only,
// and the seed sends the blob about once in all.
import assert from 'node:assert/strict';
import { open, readFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PIECE_SIZE } from '../../src/distribute/piece-size.ts';
import { eventually } from '../helpers/eventually.ts';
import { sha256Of } from '../helpers/sha256-of-url.ts';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const MiB = 1024 * 1024;
const BLOB_BYTES = 64 * MiB;
/** Slow enough that the kill lands mid-blob, fast enough to reach a few pieces in a second or two. */
const THROTTLE_BYTES_PER_S = 6 * MiB;
const PIECES_BEFORE_KILL = 4;

/** A TCP proxy to the seed that paces the seed's bytes while `throttled` (the seed itself cannot be slowed). */
async function startPacer(port: number): Promise<{ url: string; throttled: boolean; forwarded: number; server: Server }> {
  const state = { url: '', throttled: true, forwarded: 0, server: undefined as unknown as Server };
  state.server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      client.write(chunk);
      state.forwarded += chunk.byteLength;
      if (!state.throttled) return;
      upstream.pause();
      setTimeout(() => upstream.resume(), (chunk.byteLength / THROTTLE_BYTES_PER_S) * 1000);
    });
    upstream.on('end', () => client.end());
    for (const socket of [client, upstream]) socket.on('error', () => { client.destroy(); upstream.destroy(); });
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

/** A seed with one 64 MiB image behind a pacer, and a node pulling through it; started and stopped by the describe. */
function crashFixture(repository: string, imageSeed: string): { seed: SeedRegistry; pacer: Awaited<ReturnType<typeof startPacer>>; node: ShoalProcess; image: TestImage } {
  const f = {} as { seed: SeedRegistry; pacer: Awaited<ReturnType<typeof startPacer>>; node: ShoalProcess; image: TestImage };
  before(async () => {
    f.seed = await startSeedRegistry();
    f.image = await makeImage({ layers: [BLOB_BYTES], seed: imageSeed });
    await pushImage(f.seed.url, repository, 'v1', f.image);
    f.pacer = await startPacer(f.seed.port);
    f.node = await startShoal({ upstreams: [f.pacer.url] });
  });
  after(async () => {
    await f.node?.dispose();
    f.pacer?.server.close();
    await f.seed?.stop();
    await f.image?.cleanup();
  });
  return f;
}

describe('kill -9 during a pull-through, then restart', () => {
  const f = crashFixture('big/resume', 'crash-resume');

  test('the restarted fetch asks the seed only for the bytes after the pieces on disk', async () => {
    const { seed, pacer, node, image } = f;
    const layer = image.layers[0]!;
    const hex = layer.digest.slice('sha256:'.length);
    const sidecar = join(node.dataDir, 'shoal', 'partials', `sha256-${hex}.pieces`);
    const url = `${node.url}/v2/big/resume/blobs/${layer.digest}`;
    seed.clearLog();
    pacer.forwarded = 0;
    const first = fetch(url).then(async (response) => {
      for await (const _chunk of response.body!) { /* the client reads along until the node dies */ }
    }).catch(() => undefined);
    const kept = async (): Promise<number[]> => JSON.parse(await readFile(sidecar, 'utf8').catch(() => '{}')).complete ?? [];
    await eventually(async () => (await kept()).length >= PIECES_BEFORE_KILL, 30_000, `${PIECES_BEFORE_KILL} pieces on disk`);
    await node.crash();
    // What reached the node's socket; the seed also wrote bytes into socket buffers that never got there.
    const delivered = pacer.forwarded;
    await first;
    const onDisk = await kept();
    assert.ok(onDisk.length < layer.size / DEFAULT_PIECE_SIZE, 'the kill landed mid-blob');
    const resumeAt = Math.max(...onDisk.filter((i, _n, all) => all.filter((j) => j < i).length === i).map((i) => i + 1)) * DEFAULT_PIECE_SIZE;

    pacer.throttled = false;
    await node.start();
    assert.deepEqual(await sha256Of(url), { status: 200, digest: layer.digest, bytes: layer.size });
    await eventually(async () => (await seed.requests()).some((r) => r.status === 206), 5_000, 'the access log');

    const gets = (await seed.requests()).filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${layer.digest}`));
    const total = gets.reduce((sum, r) => sum + r.bytes, 0);
    console.log(`# seed blob GETs: ${gets.map((r) => `${r.status} ${r.bytes}`).join(', ')}; ${delivered} bytes reached the node before the kill; kept ${onDisk.length} pieces, resumed at ${resumeAt}; total ${total} for ${layer.size} (+${total - layer.size})`);
    assert.equal(gets.length, 2, 'one GET before the kill, one after');
    const [before, restarted] = gets as [typeof gets[0], typeof gets[0]];
    // A node reads a whole blob as one range from byte 0 (200 or 206, as the seed answers it).
    assert.ok(before.status === 200 || before.status === 206, `first GET answered ${before.status}`);
    assert.equal(restarted.status, 206, 'the restarted fetch asked for a Range');
    assert.equal(restarted.bytes, layer.size - resumeAt, 'the Range started after the kept pieces, not at 0');
    assert.ok(resumeAt >= PIECES_BEFORE_KILL * DEFAULT_PIECE_SIZE);
    const received = delivered + restarted.bytes;
    assert.ok(received <= layer.size + DEFAULT_PIECE_SIZE, `the node received ${received} bytes for a ${layer.size}-byte blob: at most one piece more`);
  });
});

describe('kill -9 during a pull-through, a kept piece damaged on disk, then restart', () => {
  const f = crashFixture('big/damaged', 'crash-resume-damaged');

  test('the restarted fetch finds the damaged piece, replaces it from the seed and commits the blob: the next pull is served from disk', async () => {
    const { seed, pacer, node, image } = f;
    const layer = image.layers[0]!;
    const base = join(node.dataDir, 'shoal', 'partials', `sha256-${layer.digest.slice('sha256:'.length)}`);
    const url = `${node.url}/v2/big/damaged/blobs/${layer.digest}`;
    const first = fetch(url).then(async (response) => {
      for await (const _chunk of response.body!) { /* the client reads along until the node dies */ }
    }).catch(() => undefined);
    const kept = async (): Promise<number[]> => JSON.parse(await readFile(`${base}.pieces`, 'utf8').catch(() => '{}')).complete ?? [];
    await eventually(async () => (await kept()).includes(0), 30_000, 'piece 0 on disk');
    await node.crash();
    await first;
    // One byte of kept piece 0 flipped, as a failing disk would leave it.
    const data = await open(`${base}.data`, 'r+');
    try {
      const byte = Buffer.alloc(1);
      await data.read(byte, 0, 1, 1000);
      byte[0] = byte[0]! ^ 0xff;
      await data.write(byte, 0, 1, 1000);
    } finally {
      await data.close();
    }
    pacer.throttled = false;
    await node.start();
    // The client of the restarted fetch was sent the damaged bytes as they streamed: it is cut off
    // before its last byte, never handed a whole wrong blob.
    const damaged = await sha256Of(url).catch((error: unknown) => error);
    assert.notDeepEqual(damaged, { status: 200, digest: layer.digest, bytes: layer.size }, 'piece 0 went out before the digest was known');
    const whole = damaged as { digest?: string; bytes?: number };
    assert.ok(!(whole.bytes === layer.size && whole.digest !== layer.digest), 'no whole wrong blob');
    assert.ok(node.logs().some((line) => String(line.msg).includes('kept on disk from an earlier run differs from the seed copy')), 'the log names the damaged piece');
    // Before, the repair trusted kept pieces, failed again and threw the blob away: the next pull fetched all of it.
    await eventually(async () => (await fetch(`${node.url}/v2/big/damaged/blobs/${layer.digest}`, { method: 'HEAD' })).status === 200, 30_000, 'the repaired blob committed');
    const getsBefore = (await seed.requests()).filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${layer.digest}`)).length;
    assert.deepEqual(await sha256Of(url), { status: 200, digest: layer.digest, bytes: layer.size });
    const getsAfter = (await seed.requests()).filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${layer.digest}`)).length;
    assert.equal(getsAfter, getsBefore, 'served from disk');
  });
});
