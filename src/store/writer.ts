import { randomUUID, type Hash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { OciError, createDigester, digestFromHash, type Digest, type DigestAlgorithm } from '../oci/index.ts';
import type { Layout } from './layout.ts';
import { commitFile } from '../lib/durable-rename.ts';

/**
 * Writes one blob: bytes go to a temp file and are hashed as they are written; `commit` fsyncs,
 * checks the digest and renames the file under it. A crash at any point leaves at most a temp
 * file, which startup removes: nothing ever appears under a digest it does not match. Two
 * writers of the same blob are harmless: the second rename replaces identical bytes.
 */
export class BlobWriter {
  readonly tmpPath: string;
  readonly #layout: Layout;
  readonly #hash: Hash;
  readonly #algorithm: DigestAlgorithm;
  #handle: FileHandle | undefined;
  #written = 0;
  #closed = false;

  readonly #onCommitted: (digest: Digest, size: number) => void;

  private constructor(layout: Layout, tmpPath: string, handle: FileHandle, algorithm: DigestAlgorithm, onCommitted: (digest: Digest, size: number) => void) {
    this.#layout = layout;
    this.#onCommitted = onCommitted;
    this.tmpPath = tmpPath;
    this.#handle = handle;
    this.#algorithm = algorithm;
    this.#hash = createDigester(algorithm);
  }

  static async create(layout: Layout, algorithm: DigestAlgorithm = 'sha256', onCommitted: (digest: Digest, size: number) => void = () => undefined): Promise<BlobWriter> {
    const tmpPath = join(layout.tmp, `blob-${randomUUID()}`);
    const handle = await open(tmpPath, 'w');
    return new BlobWriter(layout, tmpPath, handle, algorithm, onCommitted);
  }

  get written(): number {
    return this.#written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    const handle = this.#requireOpen();
    let offset = 0;
    while (offset < chunk.byteLength) {
      const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset, this.#written + offset);
      offset += bytesWritten;
    }
    this.#hash.update(chunk);
    this.#written += chunk.byteLength;
  }

  /** Reads the stream to its end into the blob; refuses more than `maxBytes` with SIZE_INVALID. */
  async writeStream(stream: AsyncIterable<Uint8Array>, maxBytes = Number.POSITIVE_INFINITY): Promise<void> {
    for await (const chunk of stream) {
      if (this.#written + chunk.byteLength > maxBytes) {
        throw new OciError('SIZE_INVALID', `body is larger than the ${maxBytes} bytes allowed`);
      }
      await this.write(chunk);
    }
  }

  /**
   * Verifies and moves the blob into the store. Throws DIGEST_INVALID (and removes the temp file)
   * when the bytes do not match `expected`, SIZE_INVALID when `expectedSize` is given and differs.
   */
  async commit(expected?: Digest, expectedSize?: number): Promise<Digest> {
    const handle = this.#requireOpen();
    const actual = digestFromHash(this.#algorithm, this.#hash);
    try {
      if (expectedSize !== undefined && expectedSize !== this.#written) {
        throw new OciError('SIZE_INVALID', `received ${this.#written} bytes but ${expectedSize} were declared`);
      }
      if (expected && expected.value !== actual.value) {
        throw new OciError('DIGEST_INVALID', `content digest ${actual.value} does not match the requested digest ${expected.value}`, { expected: expected.value, actual: actual.value });
      }
      this.#handle = undefined;
      await commitFile(handle, this.tmpPath, this.#layout.blobData(actual));
      this.#closed = true;
      this.#onCommitted(actual, this.#written);
      return actual;
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  async abort(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle?.close().catch(() => undefined);
    this.#handle = undefined;
    await rm(this.tmpPath, { force: true });
  }

  #requireOpen(): FileHandle {
    if (this.#closed || !this.#handle) throw new Error('blob writer is closed');
    return this.#handle;
  }
}
