import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { sha256Of } from '../helpers/sha256-of-url.ts';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const MiB = 1024 * 1024;

async function tmpFiles(node: ShoalProcess): Promise<string[]> {
  return readdir(join(node.dataDir, 'shoal', 'tmp'));
}

async function blobFileExists(node: ShoalProcess, digest: string): Promise<boolean> {
  const hex = digest.slice('sha256:'.length);
  const dir = join(node.dataDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex);
  return readdir(dir).then((entries) => entries.includes('data'), () => false);
}

/** Sends part of a body, then lets the caller kill the server while the request is still open. */
function startPartialUpload(url: string, firstChunk: Buffer, totalLength: number): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': totalLength } });
    req.on('error', () => undefined);
    req.write(firstChunk, () => setTimeout(resolve, 200));
  });
}

describe('kill -9 and restart', () => {
  let seed: SeedRegistry;
  let node: ShoalProcess;
  let image: TestImage;

  before(async () => {
    seed = await startSeedRegistry();
    image = await makeImage({ layers: [48 * MiB], seed: 'crash-test' });
    await pushImage(seed.url, 'big/app', 'v1', image);
    node = await startShoal({ upstreams: [seed.url] });
  });

  after(async () => {
    seed?.resume();
    await node?.dispose();
    await seed?.stop();
    await image?.cleanup();
  });

  test('during a monolithic push: nothing under the digest, temp files cleaned, the push then succeeds', async () => {
    const body = randomBytes(8 * MiB);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    await startPartialUpload(`${node.url}/v2/pushed/app/blobs/uploads/?digest=${digest}`, body.subarray(0, 3 * MiB), body.byteLength);
    assert.ok((await tmpFiles(node)).length > 0, 'the half-written blob sits in the temp dir while the push runs');
    await node.crash();
    assert.equal(await blobFileExists(node, digest), false);
    await node.start();
    assert.deepEqual(await tmpFiles(node), [], 'restart removed the half-written temp file');
    assert.equal((await fetch(`${node.url}/v2/pushed/app/blobs/${digest}`, { method: 'HEAD' })).status, 404);

    const complete = await fetch(`${node.url}/v2/pushed/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(complete.status, 201);
    assert.deepEqual(await sha256Of(`${node.url}/v2/pushed/app/blobs/${digest}`), { status: 200, digest, bytes: body.byteLength });
  });

  test('during a chunked push: the session resumes from the bytes on disk after restart', async () => {
    const body = randomBytes(4 * MiB);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const started = await fetch(`${node.url}/v2/pushed/chunks/blobs/uploads/`, { method: 'POST' });
    const location = started.headers.get('location')!;
    const first = await fetch(`${node.url}${location}`, { method: 'PATCH', body: body.subarray(0, MiB), headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${MiB - 1}` } });
    assert.equal(first.status, 202);
    await node.crash();
    await node.start();
    const status = await fetch(`${node.url}${location}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${MiB - 1}`);
    const rest = await fetch(`${node.url}${location}?digest=${digest}`, { method: 'PUT', body: body.subarray(MiB), headers: { 'content-type': 'application/octet-stream', 'content-range': `${MiB}-${body.byteLength - 1}` } });
    assert.equal(rest.status, 201, await rest.text());
    assert.equal((await sha256Of(`${node.url}/v2/pushed/chunks/blobs/${digest}`)).digest, digest);
  });

  test('during a pull-through: the partial blob is never served, the next pull fetches it whole', async () => {
    const layer = image.layers[0]!;
    const url = `${node.url}/v2/big/app/blobs/${layer.digest}`;
    // Stall the seed after the transfer has started so the crash lands mid-blob.
    const response = await fetch(url);
    const reader = response.body!.getReader();
    const firstChunk = await reader.read();
    assert.equal(firstChunk.done, false);
    seed.pause();
    await node.crash();
    seed.resume();
    await reader.cancel().catch(() => undefined);
    const wasComplete = await blobFileExists(node, layer.digest);
    await node.start();
    assert.deepEqual(await tmpFiles(node), []);
    if (wasComplete) {
      // The fetch finished before the kill landed: then it must be the whole, verified blob.
      assert.equal((await sha256Of(url)).digest, layer.digest);
    }
    const again = await sha256Of(url);
    assert.deepEqual(again, { status: 200, digest: layer.digest, bytes: layer.size });
    await eventually(() => blobFileExists(node, layer.digest), 5_000, 'the verified blob to be committed');
  });
});
