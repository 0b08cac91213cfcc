import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { OciError, digestOf, parseDigest } from '../../src/oci/index.ts';
import { Store } from '../../src/store/index.ts';
import { tempStorePerTest } from '../helpers/temp-store.ts';

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

describe('BlobWriter and BlobStore: crash safety', () => {
  const temp = tempStorePerTest('shoal-store-writer-');

  const tmpFiles = (): Promise<string[]> => readdir(temp.store.layout.tmp);

  test('write in pieces, commit: the blob lands under its digest in the registry:2 layout', async () => {
    const content = randomBytes(300_000);
    const writer = await temp.store.blobs.createWriter();
    for (let i = 0; i < content.length; i += 70_000) await writer.write(content.subarray(i, i + 70_000));
    assert.equal(writer.written, content.length);
    const digest = await writer.commit(digestOf(content), content.length);
    assert.equal(digest.value, digestOf(content).value);
    const path = join(temp.dir, 'docker/registry/v2/blobs/sha256', digest.hex.slice(0, 2), digest.hex, 'data');
    assert.ok((await readFile(path)).equals(content));
    assert.equal(await temp.store.blobs.stat(digest), content.length);
    assert.deepEqual(await tmpFiles(), []);
  });

  test('a writer aborted midway leaves nothing: no temp file, nothing under the digest', async () => {
    const content = randomBytes(100_000);
    const digest = digestOf(content);
    const writer = await temp.store.blobs.createWriter();
    await writer.write(content.subarray(0, 50_000));
    assert.equal((await tmpFiles()).length, 1);
    await writer.abort();
    assert.deepEqual(await tmpFiles(), []);
    assert.equal(await temp.store.blobs.stat(digest), undefined);
    assert.equal(await exists(temp.store.layout.blobDir(digest)), false);
    await assert.rejects(writer.write(Buffer.from('more')), /closed/);
    await writer.abort(); // idempotent
  });

  test('a digest mismatch on commit is DIGEST_INVALID and stores nothing under either digest', async () => {
    const content = Buffer.from('actual bytes');
    const claimed = digestOf('claimed bytes');
    const writer = await temp.store.blobs.createWriter();
    await writer.write(content);
    await assert.rejects(writer.commit(claimed), (e: unknown) => e instanceof OciError && e.code === 'DIGEST_INVALID');
    assert.equal(await temp.store.blobs.stat(claimed), undefined);
    assert.equal(await temp.store.blobs.stat(digestOf(content)), undefined);
    assert.deepEqual(await tmpFiles(), []);
  });

  test('a size mismatch on commit is SIZE_INVALID and stores nothing', async () => {
    const content = Buffer.from('twelve bytes');
    const writer = await temp.store.blobs.createWriter();
    await writer.write(content);
    await assert.rejects(writer.commit(digestOf(content), 13), (e: unknown) => e instanceof OciError && e.code === 'SIZE_INVALID');
    assert.equal(await temp.store.blobs.stat(digestOf(content)), undefined);
    assert.deepEqual(await tmpFiles(), []);
  });

  test('writeStream refuses more than maxBytes with SIZE_INVALID', async () => {
    const writer = await temp.store.blobs.createWriter();
    await assert.rejects(writer.writeStream((async function* () {
      yield Buffer.alloc(6);
      yield Buffer.alloc(6);
    })(), 10), (e: unknown) => e instanceof OciError && e.code === 'SIZE_INVALID');
    await writer.abort();
    assert.deepEqual(await tmpFiles(), []);
  });

  test('a crash midway (writer never finished): reopening the store removes the temp files', async () => {
    const writer = await temp.store.blobs.createWriter();
    await writer.write(randomBytes(1000));
    // leftovers of several kinds: half a blob, a small atomic file, a directory
    await writeFile(join(temp.store.layout.tmp, 'small-0000'), 'half a link');
    await mkdir(join(temp.store.layout.tmp, 'odd-dir'), { recursive: true });
    await writeFile(join(temp.store.layout.tmp, 'odd-dir', 'x'), 'x');
    assert.equal((await tmpFiles()).length, 3);
    const reopened = await Store.open(temp.dir);
    assert.equal(reopened.removedTempFiles, 3);
    assert.deepEqual(await readdir(reopened.store.layout.tmp), []);
    await writer.abort();
  });

  test('Store.open on an empty or missing directory creates the layout; on a clean one removes nothing', async () => {
    const fresh = join(temp.dir, 'nested', 'fresh');
    const { store: s, removedTempFiles } = await Store.open(fresh);
    assert.equal(removedTempFiles, 0);
    assert.ok(await exists(join(fresh, 'docker/registry/v2/blobs')));
    assert.ok(await exists(join(fresh, 'docker/registry/v2/repositories')));
    assert.ok(await exists(s.layout.tmp));
  });

  test('two concurrent writers of the same blob both succeed and the blob is intact', async () => {
    const content = randomBytes(2 * 1024 * 1024);
    const digest = digestOf(content);
    const write = async (): Promise<string> => {
      const writer = await temp.store.blobs.createWriter();
      for (let i = 0; i < content.length; i += 256 * 1024) await writer.write(content.subarray(i, i + 256 * 1024));
      return (await writer.commit(digest, content.length)).value;
    };
    const results = await Promise.all([write(), write(), write()]);
    assert.deepEqual(results, [digest.value, digest.value, digest.value]);
    assert.ok((await temp.store.blobs.read(digest))!.equals(content));
    assert.deepEqual(await tmpFiles(), []);
  });

  test('BlobStore.put, open with a range, delete', async () => {
    const content = Buffer.from('0123456789');
    const digest = await temp.store.blobs.put(content);
    assert.equal(digest.value, digestOf(content).value);
    const opened = await temp.store.blobs.open(digest, { start: 2, end: 4 });
    assert.ok(opened);
    assert.equal(opened.size, 10);
    const chunks: Buffer[] = [];
    for await (const c of opened.stream) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), '234');
    assert.equal(await temp.store.blobs.delete(digest), true);
    assert.equal(await temp.store.blobs.stat(digest), undefined);
    assert.equal(await temp.store.blobs.open(digest), undefined);
    assert.equal(await temp.store.blobs.delete(digest), false);
  });

  test('BlobStore.put with an expected digest that does not match stores nothing', async () => {
    const wrong = parseDigest(`sha256:${'0'.repeat(64)}`);
    await assert.rejects(temp.store.blobs.put(Buffer.from('x'), wrong), (e: unknown) => e instanceof OciError && e.code === 'DIGEST_INVALID');
    assert.equal(await temp.store.blobs.stat(wrong), undefined);
    assert.deepEqual(await tmpFiles(), []);
  });
});
