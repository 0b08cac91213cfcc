import { EventEmitter } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ByteRange, Digest } from '../oci/index.ts';
import type { BlobStore } from './blobs.ts';
import type { BlobWriter } from './writer.ts';

const READ_CHUNK = 256 * 1024;

type State = { kind: 'writing' } | { kind: 'committed'; digest: Digest } | { kind: 'failed'; error: Error };

/**
 * A blob being written that readers may already read: each reader opens the temp file, reads
 * what has been written and waits for more. Once committed the temp file is renamed, which does
 * not disturb readers' open handles. If the write fails, every reader fails with the same error,
 * so a client never receives bytes of a blob that then silently ends short.
 */
export class IncomingBlob {
  readonly digest: Digest;
  /** Expected total size when known (Content-Length of the source). */
  size: number | undefined;
  readonly #writer: BlobWriter;
  readonly #events = new EventEmitter();
  #state: State = { kind: 'writing' };
  #readers = 0;

  constructor(digest: Digest, writer: BlobWriter, size?: number) {
    this.digest = digest;
    this.#writer = writer;
    this.size = size;
    this.#events.setMaxListeners(0);
  }

  get written(): number {
    return this.#writer.written;
  }

  get state(): State['kind'] {
    return this.#state.kind;
  }

  get readers(): number {
    return this.#readers;
  }

  async append(chunk: Uint8Array): Promise<void> {
    await this.#writer.write(chunk);
    this.#events.emit('change');
  }

  /** Verifies against the digest and moves the blob into the store. */
  async commit(): Promise<void> {
    try {
      await this.#writer.commit(this.digest, this.size);
      this.#state = { kind: 'committed', digest: this.digest };
    } catch (error) {
      this.#state = { kind: 'failed', error: error as Error };
      throw error;
    } finally {
      this.#events.emit('change');
    }
  }

  async fail(error: Error): Promise<void> {
    if (this.#state.kind !== 'writing') return;
    this.#state = { kind: 'failed', error };
    this.#events.emit('change');
    await this.#writer.abort();
  }

  /** Resolves once committed; rejects with the failure otherwise. */
  done(): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.#state.kind === 'committed') resolve();
        else if (this.#state.kind === 'failed') reject(this.#state.error);
        else return false;
        this.#events.off('change', check);
        return true;
      };
      if (!check()) this.#events.on('change', check);
    });
  }

  /**
   * A stream of [range.start, range.end] (or the whole blob), served from the temp file as bytes
   * arrive. `store` serves readers that start after the commit from the final file.
   */
  createReader(store: BlobStore, range?: ByteRange): Readable {
    const start = range?.start ?? 0;
    const endInclusive = range?.end;
    let position = start;
    let handle: FileHandle | undefined;
    let opening: Promise<FileHandle> | undefined;
    const path = this.#writer.tmpPath;
    const openHandle = async (): Promise<FileHandle> => {
      if (handle) return handle;
      opening ??= open(path, 'r').catch(async (error: unknown) => {
        // Already renamed into place: read the committed blob instead.
        if (this.#state.kind === 'committed') return open(store.path(this.digest), 'r');
        // Already failed (and the temp file removed): fail with the blob's error, as every reader does.
        if (this.#state.kind === 'failed') throw this.#state.error;
        throw error;
      });
      handle = await opening;
      return handle;
    };
    this.#readers += 1;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#readers -= 1;
    };
    const waitForChange = (): Promise<void> => new Promise((resolve) => this.#events.once('change', resolve));

    const blob = this;
    const stream: Readable = new Readable({
      highWaterMark: READ_CHUNK,
      read: async () => {
        try {
          const fh = await openHandle();
          for (;;) {
            const last = endInclusive ?? (blob.size !== undefined ? blob.size - 1 : Number.POSITIVE_INFINITY);
            // A reader whose range reaches the blob's end gets the last byte written, and its end,
            // only once the digest is verified: a client never receives a complete, clean answer
            // for bytes that then fail verification (it sees the transfer break off instead).
            const reachesEnd = blob.size === undefined ? endInclusive === undefined : last >= blob.size - 1;
            const verified = blob.#state.kind === 'committed';
            if (position > last && (verified || !reachesEnd)) {
              stream.push(null);
              return;
            }
            if (blob.#state.kind === 'failed') throw blob.#state.error;
            const available = blob.written - (reachesEnd && !verified ? 1 : 0);
            if (position < available && position <= last) {
              const length = Math.min(READ_CHUNK, available - position, last - position + 1);
              const buffer = Buffer.allocUnsafe(length);
              const { bytesRead } = await fh.read(buffer, 0, length, position);
              position += bytesRead;
              stream.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
              return;
            }
            if (verified) {
              // The whole blob is there and we are past its end (size was unknown up front).
              stream.push(null);
              return;
            }
            await waitForChange();
          }
        } catch (error) {
          stream.destroy(error as Error);
        }
      },
      destroy(error, callback) {
        release();
        const fh = handle;
        handle = undefined;
        if (fh) fh.close().then(() => callback(error), () => callback(error));
        else callback(error);
      },
    });
    return stream;
  }
}

