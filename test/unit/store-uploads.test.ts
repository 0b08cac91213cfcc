import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { OciError, digestOf, parseDigest } from '../../src/oci/index.ts';
import { uploadRangeHeader as rangeHeader } from '../../src/oci/index.ts';
import { Store } from '../../src/store/index.ts';

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/** A request body as the routes hand it over: an async iterable of chunks. */
async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield part;
}

const code = (c: string, status?: number) => (e: unknown): boolean => e instanceof OciError && e.code === c && (status === undefined || e.status === status);

describe('UploadStore', () => {
  let dir: string;
  let store: Store;
  const repo = 'library/app';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-store-uploads-'));
    ({ store } = await Store.open(dir));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  test('create puts the session where registry:2 keeps it', async () => {
    const status = await store.uploads.create(repo);
    assert.equal(status.size, 0);
    assert.ok(await exists(join(dir, 'docker/registry/v2/repositories/library/app/_uploads', status.id, 'data')));
    assert.ok(await exists(join(dir, 'docker/registry/v2/repositories/library/app/_uploads', status.id, 'startedat')));
    assert.equal(rangeHeader(0), '0-0');
    assert.equal(rangeHeader(10), '0-9');
  });

  test('an upload survives re-opening the store and finishes (hash rebuilt from disk)', async () => {
    const content = randomBytes(700_000);
    const { id } = await store.uploads.create(repo);
    await store.uploads.append(repo, id, chunks(content.subarray(0, 400_000)), { start: 0, end: 399_999 });

    // a new process on the same directory
    const { store: again } = await Store.open(dir);
    const status = await again.uploads.status(repo, id);
    assert.equal(status.size, 400_000);
    assert.ok(status.startedAt.getTime() > 0);
    // out of order against the rebuilt size
    await assert.rejects(again.uploads.append(repo, id, chunks(content.subarray(0, 10)), { start: 0, end: 9 }), (e: unknown) => code('BLOB_UPLOAD_INVALID', 416)(e) && (e as OciError).headers.range === '0-399999');
    await again.uploads.append(repo, id, chunks(content.subarray(400_000)), { start: 400_000, end: content.length - 1 });
    const digest = digestOf(content);
    const done = await again.uploads.finish(repo, id, digest);
    assert.deepEqual(done, { digest, size: content.length });
    assert.ok((await again.blobs.read(digest))!.equals(content));
    assert.equal(await exists(again.layout.uploadDir(repo, id)), false);
  });

  test('a session re-opened with a final chunk in finish', async () => {
    const content = Buffer.from('resumed and finished in one go');
    const { id } = await store.uploads.create(repo);
    await store.uploads.append(repo, id, chunks(content.subarray(0, 8)));
    const { store: again } = await Store.open(dir);
    await again.uploads.finish(repo, id, digestOf(content), chunks(content.subarray(8)));
    assert.equal((await again.blobs.read(digestOf(content)))!.toString(), content.toString());
  });

  test('finish with the wrong digest is DIGEST_INVALID, cancels, and stores nothing', async () => {
    const content = Buffer.from('some bytes');
    const { id } = await store.uploads.create(repo);
    await store.uploads.append(repo, id, chunks(content));
    const wrong = digestOf('other bytes');
    await assert.rejects(store.uploads.finish(repo, id, wrong), code('DIGEST_INVALID'));
    assert.equal(await store.blobs.stat(wrong), undefined);
    assert.equal(await store.blobs.stat(digestOf(content)), undefined);
    await assert.rejects(store.uploads.status(repo, id), code('BLOB_UPLOAD_UNKNOWN', 404));
  });

  test('finish by a sha512 digest verifies with sha512', async () => {
    const content = Buffer.from('sha512 content');
    const digest = parseDigest(`sha512:${createHash('sha512').update(content).digest('hex')}`);
    const { id } = await store.uploads.create(repo);
    await store.uploads.append(repo, id, chunks(content));
    await store.uploads.finish(repo, id, digest);
    assert.equal(await store.blobs.stat(digest), content.length);

    const { id: id2 } = await store.uploads.create(repo);
    await store.uploads.append(repo, id2, chunks(Buffer.from('not it')));
    await assert.rejects(store.uploads.finish(repo, id2, digest), code('DIGEST_INVALID'));
  });

  test('chunks that do not match their declared range, or pass the limit, are refused', async () => {
    const { id } = await store.uploads.create(repo);
    await assert.rejects(store.uploads.append(repo, id, chunks(Buffer.alloc(5)), { start: 0, end: 3 }), code('BLOB_UPLOAD_INVALID', 416));
    assert.equal((await store.uploads.status(repo, id)).size, 0);
    await assert.rejects(store.uploads.append(repo, id, chunks(Buffer.alloc(3)), { start: 0, end: 3 }), code('BLOB_UPLOAD_INVALID', 416));
    const size = (await store.uploads.status(repo, id)).size;
    await assert.rejects(store.uploads.append(repo, id, chunks(Buffer.alloc(20)), { maxBytes: size + 10 }), code('SIZE_INVALID'));
    assert.equal((await store.uploads.status(repo, id)).size, size);
  });

  test('unknown, malformed and other-repository ids are BLOB_UPLOAD_UNKNOWN', async () => {
    const { id } = await store.uploads.create(repo);
    for (const [r, i] of [[repo, '0b0e7a3c-8b4e-4c5e-9d7e-3e7a1c1f2b3a'], [repo, '../../x'], [repo, ''], ['other/app', id]] as const) {
      await assert.rejects(store.uploads.status(r, i), code('BLOB_UPLOAD_UNKNOWN', 404), `${r} ${i}`);
      await assert.rejects(store.uploads.append(r, i, chunks(Buffer.from('x'))), code('BLOB_UPLOAD_UNKNOWN', 404));
    }
  });

  test('concurrent appends are serialised', async () => {
    const { id } = await store.uploads.create(repo);
    const parts = Array.from({ length: 10 }, (_, i) => Buffer.alloc(10_000, i));
    await Promise.all(parts.map((p) => store.uploads.append(repo, id, chunks(p.subarray(0, 5000), p.subarray(5000)))));
    assert.equal((await store.uploads.status(repo, id)).size, 100_000);
  });

  test('work queued behind a chunk is refused once the upload was cancelled meanwhile', async () => {
    const { id } = await store.uploads.create(repo);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slowBody = (async function* () {
      yield Buffer.from('first half ');
      await gate;
      yield Buffer.from('second half');
    })();
    const appending = store.uploads.append(repo, id, slowBody);
    const content = Buffer.from('first half second half');
    const finishing = store.uploads.finish(repo, id, digestOf(content));
    const queuedAppend = store.uploads.append(repo, id, chunks(Buffer.from('more')));
    const settled = Promise.allSettled([appending, finishing, queuedAppend]);
    await store.uploads.cancel(repo, id);
    release();
    for (const result of await settled) {
      assert.equal(result.status, 'rejected');
      assert.ok(code('BLOB_UPLOAD_UNKNOWN', 404)((result as PromiseRejectedResult).reason), String((result as PromiseRejectedResult).reason));
    }
    assert.equal(await store.blobs.stat(digestOf(content)), undefined);
  });

  test('purge removes sessions started before the cutoff and keeps the rest', async () => {
    const old = await store.uploads.create(repo);
    const young = await store.uploads.create(repo);
    const ancient = new Date(Date.now() - 7 * 24 * 3600_000);
    await writeFile(store.layout.uploadStartedAt(repo, old.id), ancient.toISOString());
    // an upload left by registry:2 without startedat: its directory's age counts
    const orphan = join(store.layout.uploadsDir(repo), '11111111-2222-4333-8444-555555555555');
    await mkdir(orphan, { recursive: true });
    await writeFile(join(orphan, 'data'), 'x');
    await utimes(orphan, ancient, ancient);
    const purged = await store.uploads.purge([repo, 'never/was'], new Date(Date.now() - 3600_000));
    assert.equal(purged, 2);
    assert.deepEqual(await readdir(store.layout.uploadsDir(repo)), [young.id]);
    await assert.rejects(store.uploads.status(repo, old.id), code('BLOB_UPLOAD_UNKNOWN'));
  });
});
