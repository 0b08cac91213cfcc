import { createReadStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { tryParseDigest, type ByteRange, type Digest } from '../oci/index.ts';
import type { Layout } from './layout.ts';
import { BlobWriter } from './writer.ts';
import { keptSize, type KeptPartial } from './kept-partial.ts';
import { PartialBlob } from './partial.ts';
import { isNotFound } from './files.ts';
import type { BlobUsage, Reservation } from './usage.ts';

/** Content-addressed blobs under blobs/<algorithm>/<2>/<hex>/data. Everything there is complete and verified. */
export class BlobStore {
  readonly #layout: Layout;
  readonly #usage: BlobUsage;
  readonly #committed = new Set<(digest: Digest, size: number) => void>();
  readonly #deleted = new Set<(digest: Digest) => void>();
  /** Partial blobs kept from before a restart that no fetch has taken up yet, by digest. */
  readonly #kept = new Map<string, Reservation>();
  /** Partial blobs counted at their full size from now on (countWhole). */
  readonly #whole = new WeakMap<PartialBlob, () => void>();

  constructor(layout: Layout, usage: BlobUsage) {
    this.#layout = layout;
    this.#usage = usage;
  }

  /** In-use counts, access times and reservations (eviction reads them). */
  get usage(): BlobUsage {
    return this.#usage;
  }

  /**
   * Marks the blob in use until the returned function is called: eviction never removes it
   * meanwhile. Take it before opening the file, release it when the response is over.
   */
  acquire(digest: Digest): () => void {
    return this.#usage.acquire(digest);
  }

  /** Records an access (a HEAD, a mount) without holding the blob. */
  touch(digest: Digest): void {
    this.#usage.touch(digest);
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
    const release = this.acquire(digest);
    const size = await this.stat(digest);
    if (size === undefined) {
      release();
      return undefined;
    }
    const stream = createReadStream(this.#layout.blobData(digest), {
      ...(range ? { start: range.start, end: range.end } : {}),
      highWaterMark: 1024 * 1024,
    });
    stream.once('close', release);
    return { stream, size };
  }

  async read(digest: Digest): Promise<Buffer | undefined> {
    const opened = await this.open(digest);
    if (!opened) return undefined;
    return buffer(opened.stream);
  }

  createWriter(algorithm: Digest['algorithm'] = 'sha256'): Promise<BlobWriter> {
    return BlobWriter.create(this.#layout, algorithm, this.notifyPushed);
  }

  /**
   * A blob to be filled piece by piece from the network, readable while it fills; its readers hold
   * it in use. It counts as used disk with the bytes it holds (a piece cache fetches only what
   * peers ask this host for), and with its full size once countWhole says it will be filled. The
   * count ends as its file goes: renamed under its digest (counted from then on as a stored blob)
   * or removed.
   */
  async createPartial(digest: Digest, size: number, pieceSize: number): Promise<PartialBlob> {
    const partial = await PartialBlob.create(this.#layout, digest, size, pieceSize, this.notifyCommitted, (d) => this.acquire(d));
    // Its file was kept from before a restart: counted from now on as this blob's.
    this.#kept.get(digest.value)?.release();
    this.#kept.delete(digest.value);
    const reservation = this.#usage.reserve(partial.received);
    let whole = false;
    // 'change' comes with every write, and at the commit before the committed listeners hear of
    // it: the blob is never counted twice.
    const count = (): void => {
      if (partial.state !== 'writing') {
        reservation.release();
        off();
      } else reservation.set(whole ? size : partial.received);
    };
    const off = partial.onChange(count);
    this.#whole.set(partial, () => {
      whole = true;
      count();
    });
    return partial;
  }

  /** A local client wants all of `partial`: its full size counts as used from now, so room is made before its bytes arrive. */
  countWhole(partial: PartialBlob): void {
    this.#whole.get(partial)?.();
  }

  /** Partial blobs kept from before a restart: the bytes they take count as used until a fetch takes them up. */
  countKept(kept: readonly KeptPartial[]): void {
    for (const { digest, bytes } of kept) {
      this.#kept.get(digest)?.release();
      this.#kept.set(digest, this.#usage.reserve(bytes));
    }
  }

  /** Size of `digest` when a fetch cut short (a crash) left pieces of it that createPartial will resume from. */
  keptPartialSize(digest: Digest): Promise<number | undefined> {
    return keptSize(this.#layout, digest);
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
    this.#usage.touch(digest);
    for (const listener of this.#committed) listener(digest, size);
  };

  /** A blob that arrived by a push (BlobWriter, upload sessions): kept from eviction for a while, see PUSH_GRACE_MS. */
  readonly notifyPushed = (digest: Digest, size: number): void => {
    this.#usage.markPushed(digest);
    this.notifyCommitted(digest, size);
  };

  /** Called with every blob removed from the store (evicted, collected): the swarm withdraws it. */
  onDeleted(listener: (digest: Digest) => void): () => void {
    this.#deleted.add(listener);
    return () => this.#deleted.delete(listener);
  }

  /**
   * Every stored blob with its size and file time, walking blobs/<algorithm>/<2>/<hex>/data (for
   * the swarm's inventory, eviction and gc).
   */
  async *list(): AsyncGenerator<{ digest: Digest; size: number; modifiedAt: number }> {
    for (const algorithm of await listDir(this.#layout.blobsRoot())) {
      for (const prefix of await listDir(join(this.#layout.blobsRoot(), algorithm))) {
        for (const hex of await listDir(join(this.#layout.blobsRoot(), algorithm, prefix))) {
          const digest = tryParseDigest(`${algorithm}:${hex}`);
          if (!digest) continue;
          const info = await stat(this.#layout.blobData(digest)).catch((error: unknown) => {
            if (isNotFound(error)) return undefined;
            throw error;
          });
          if (info?.isFile()) yield { digest, size: info.size, modifiedAt: info.mtimeMs };
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

  /** Removes a blob; listeners hear of it when it was there. Callers check `usage.isInUse` first. */
  async delete(digest: Digest): Promise<boolean> {
    const exists = (await this.stat(digest)) !== undefined;
    await rm(this.#layout.blobDir(digest), { recursive: true, force: true });
    this.#usage.forget(digest);
    if (exists) for (const listener of this.#deleted) listener(digest);
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
