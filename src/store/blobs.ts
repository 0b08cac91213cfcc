import { createReadStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { tryParseDigest, type ByteRange, type Digest } from '../oci/index.ts';
import type { Layout } from './layout.ts';
import { BlobWriter } from './writer.ts';
import { PartialBlob } from './partial.ts';
import { isNotFound } from './files.ts';

/** Content-addressed blobs under blobs/<algorithm>/<2>/<hex>/data. Everything there is complete and verified. */
export class BlobStore {
  readonly #layout: Layout;
  readonly #committed = new Set<(digest: Digest, size: number) => void>();

  constructor(layout: Layout) {
    this.#layout = layout;
  }

  /** Size of a stored blob, or undefined. */
  async stat(digest: Digest): Promise<number | undefined> {
    try {
      const info = await stat(this.#layout.blobData(digest));
      return info.isFile() ? info.size : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  path(digest: Digest): string {
    return this.#layout.blobData(digest);
  }

  /** A stream of the blob (or one range of it), or undefined when the blob is not stored. */
  async open(digest: Digest, range?: ByteRange): Promise<{ stream: Readable; size: number } | undefined> {
    const size = await this.stat(digest);
    if (size === undefined) return undefined;
    const stream = createReadStream(this.#layout.blobData(digest), {
      ...(range ? { start: range.start, end: range.end } : {}),
      highWaterMark: 1024 * 1024,
    });
    return { stream, size };
  }

  async read(digest: Digest): Promise<Buffer | undefined> {
    const opened = await this.open(digest);
    if (!opened) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of opened.stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  createWriter(algorithm: Digest['algorithm'] = 'sha256'): Promise<BlobWriter> {
    return BlobWriter.create(this.#layout, algorithm, this.notifyCommitted);
  }

  /** A blob to be filled piece by piece from the network, readable while it fills. */
  createPartial(digest: Digest, size: number, pieceSize: number): Promise<PartialBlob> {
    return PartialBlob.create(this.#layout, digest, size, pieceSize, this.notifyCommitted);
  }

  /**
   * Called with every blob that becomes present (pushed, fetched, uploaded): the swarm announces
   * from these events and never polls the disk. Returns a function that unsubscribes.
   */
  onCommitted(listener: (digest: Digest, size: number) => void): () => void {
    this.#committed.add(listener);
    return () => this.#committed.delete(listener);
  }

  readonly notifyCommitted = (digest: Digest, size: number): void => {
    for (const listener of this.#committed) listener(digest, size);
  };

  /** Every stored blob with its size, walking blobs/<algorithm>/<2>/<hex>/data (for the swarm's inventory). */
  async *list(): AsyncGenerator<{ digest: Digest; size: number }> {
    for (const algorithm of await listDir(this.#layout.blobsRoot())) {
      for (const prefix of await listDir(join(this.#layout.blobsRoot(), algorithm))) {
        for (const hex of await listDir(join(this.#layout.blobsRoot(), algorithm, prefix))) {
          const digest = tryParseDigest(`${algorithm}:${hex}`);
          if (!digest) continue;
          const size = await this.stat(digest);
          if (size !== undefined) yield { digest, size };
        }
      }
    }
  }

  /** Writes bytes already in memory (manifests) under their digest. */
  async put(content: Uint8Array, expected?: Digest): Promise<Digest> {
    const writer = await this.createWriter(expected?.algorithm);
    try {
      await writer.write(content);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return writer.commit(expected);
  }

  async delete(digest: Digest): Promise<boolean> {
    const exists = (await this.stat(digest)) !== undefined;
    await rm(this.#layout.blobDir(digest), { recursive: true, force: true });
    return exists;
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}
