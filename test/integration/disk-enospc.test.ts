import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { makeImage, pushImage as pushToSeed, type TestImage } from '../helpers/images.ts';
import { blobDataPath, imageManifest, makeBlob, sha256 } from '../helpers/oci-fixtures.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const run = promisify(execFile);
const FS_BYTES = 4 * 1024 * 1024;

interface ErrorBody {
  readonly errors: ReadonlyArray<{ readonly code: string; readonly message: string }>;
}

async function assertDiskFull(res: Response, context: string): Promise<void> {
  assert.equal(res.status, 507, context);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, context);
  const body = (await res.json()) as ErrorBody;
  assert.equal(body.errors[0]?.code, 'UNAVAILABLE', context);
  assert.match(body.errors[0]!.message, /data directory is full: free space/, context);
}

// shoal's data directory on a 4 MiB tmpfs (mounting needs root, as CI has): writes that do not fit
// get the spec's JSON error with 507, leave nothing half-written, and the daemon carries on.
describe('a full disk (ENOSPC) during writes', () => {
  let mountPoint: string;
  let mounted = false;
  let seed: SeedRegistry;
  let shoal: ShoalProcess;
  let big: TestImage;

  const tmpFiles = (): Promise<string[]> => readdir(join(mountPoint, 'shoal', 'tmp'));
  // On the same keep-alive connection as the refused request when the client reuses it: a refused
  // body must be drained, not left half-read (the next request would hang).
  const alive = async (): Promise<void> => assert.equal((await fetch(`${shoal.url}/v2/`, { signal: AbortSignal.timeout(5000) })).status, 200, 'the daemon still answers');

  before(async () => {
    mountPoint = await mkdtemp(join(tmpdir(), 'shoal-tmpfs-'));
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${FS_BYTES}`, 'tmpfs', mountPoint]);
      mounted = true;
    } catch (error) {
      throw new Error(`this test mounts a tmpfs and needs root (as CI runs it): ${(error as Error).message}`);
    }
    seed = await startSeedRegistry();
    big = await makeImage({ layers: [6 * 1024 * 1024], seed: 'enospc-pull' });
    await pushToSeed(seed.url, 'mirror/big', 'v1', big);
    shoal = await startShoal({ dataDir: mountPoint, upstreams: [seed.url] });
  });

  after(async () => {
    await shoal?.dispose();
    await seed?.stop();
    await big?.cleanup();
    if (mounted) await run('umount', [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  });

  test('a monolithic push larger than the disk: 507 with the spec\'s body, no temp file, the blob absent', async () => {
    const blob = makeBlob(randomBytes(6 * 1024 * 1024));
    const res = await fetch(`${shoal.url}/v2/team/app/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.content, headers: { 'content-type': 'application/octet-stream' } });
    await assertDiskFull(res, 'monolithic');
    assert.deepEqual(await tmpFiles(), []);
    assert.equal((await fetch(`${shoal.url}/v2/team/app/blobs/${blob.digest}`, { method: 'HEAD' })).status, 404);
    await alive();
    const small = makeBlob(randomBytes(10_000));
    const ok = await fetch(`${shoal.url}/v2/team/app/blobs/uploads/?digest=${small.digest}`, { method: 'POST', body: small.content, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(ok.status, 201, 'space is usable again at once');
  });

  test('a chunk that does not fit: 507, and the upload keeps exactly the bytes it reported', async () => {
    const start = await fetch(`${shoal.url}/v2/team/chunked/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const location = new URL(start.headers.get('location')!, shoal.url);
    const first = randomBytes(500_000);
    const patched = await fetch(location, { method: 'PATCH', body: first, headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${first.length - 1}` } });
    assert.equal(patched.status, 202);
    const tooBig = randomBytes(6 * 1024 * 1024);
    const failed = await fetch(location, { method: 'PATCH', body: tooBig, headers: { 'content-type': 'application/octet-stream', 'content-range': `${first.length}-${first.length + tooBig.length - 1}` } });
    await assertDiskFull(failed, 'chunk');
    const status = await fetch(location);
    assert.equal(status.status, 204);
    const range = status.headers.get('range')!;
    const received = Number(range.split('-')[1]) + 1;
    const id = location.pathname.split('/').pop()!;
    const data = join(mountPoint, 'docker/registry/v2/repositories/team/chunked/_uploads', id, 'data');
    assert.equal((await stat(data)).size, received, 'the data file holds exactly the bytes counted');
    assert.ok(received >= first.length && received < first.length + tooBig.length, `${received} bytes kept`);
    // Those bytes are sound: the upload finishes from there with their digest.
    const whole = Buffer.concat([first, tooBig]).subarray(0, received);
    const put = await fetch(`${location.href}${location.search ? '&' : '?'}digest=${sha256(whole)}`, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    assert.equal((await stat(blobDataPath(mountPoint, sha256(whole)))).size, whole.length);
    assert.deepEqual(await tmpFiles(), []);
    await rm(join(blobDataPath(mountPoint, sha256(whole)), '..'), { recursive: true }); // room for the next test
    await alive();
  });

  test('a disk filled by something else: blob and manifest pushes get 507, link files leave no temp files', async () => {
    const config = makeBlob('{"architecture":"amd64","os":"linux"}');
    const layer = makeBlob(randomBytes(2000));
    for (const blob of [config, layer]) {
      const res = await fetch(`${shoal.url}/v2/team/full/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.content, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(res.status, 201);
    }
    const filler = join(mountPoint, 'filler');
    const handle = await open(filler, 'w');
    try {
      const chunk = Buffer.alloc(64 * 1024, 1);
      for (;;) await handle.write(chunk);
    } catch (error) {
      assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      await handle.close();
    }
    try {
      const blob = makeBlob(randomBytes(100_000));
      await assertDiskFull(await fetch(`${shoal.url}/v2/team/full/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.content, headers: { 'content-type': 'application/octet-stream' } }), 'blob on a full disk');
      const manifest = imageManifest({ config, layers: [layer] });
      await assertDiskFull(await fetch(`${shoal.url}/v2/team/full/manifests/v1`, { method: 'PUT', body: manifest.body, headers: { 'content-type': manifest.mediaType } }), 'manifest on a full disk');
      assert.deepEqual(await tmpFiles(), []);
      await alive();
    } finally {
      await rm(filler);
    }
    const manifest = imageManifest({ config, layers: [layer] });
    const again = await fetch(`${shoal.url}/v2/team/full/manifests/v1`, { method: 'PUT', body: manifest.body, headers: { 'content-type': manifest.mediaType } });
    assert.equal(again.status, 201, 'with space again the same push works');
  });

  test('a pull-through blob larger than the disk: the transfer breaks off, nothing is stored, the daemon lives', async () => {
    const layer = big.layers[0]!;
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await fetch(`${shoal.url}/v2/mirror/big/blobs/${layer.digest}`);
      let received = 0;
      let broke = false;
      if (res.status === 200) {
        try {
          for await (const chunk of res.body!) received += (chunk as Uint8Array).byteLength;
        } catch {
          broke = true;
        }
        assert.ok(broke || received < layer.size, `attempt ${attempt}: the client must not get a complete, clean response`);
      } else {
        await assertDiskFull(res, 'pull-through');
      }
      await assert.rejects(stat(blobDataPath(mountPoint, layer.digest)), 'nothing is stored');
    }
    const deadline = Date.now() + 5000;
    while ((await tmpFiles()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await tmpFiles(), [], 'the partial file was removed');
    assert.ok(shoal.logs().some((line) => line.msg === 'blob fetch failed; nothing was stored'));
    await alive();
  });
});
