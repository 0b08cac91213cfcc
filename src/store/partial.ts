// One blob being fetched: a temp file written piece by piece, readable while written, verified
// and renamed under its digest at the end. Its states (writing → committed | failed) live here;
// the pieces present and the writes in flight (piece-writes.ts), the readers (partial-reader.ts)
// and the resume bookkeeping (kept-partial.ts) apart.
import { EventEmitter } from 'node:events';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { ByteRange, Digest } from '../oci/index.ts';
import type { Layout } from './layout.ts';
import { commitFile } from '../lib/durable-rename.ts';
import { steadyTimeout } from '../lib/steady-clock.ts';
import { isNotFound } from './files.ts';
import { keptPaths, openKept, partialsDir, PieceListSaver, removeKept, type KeptPaths } from './kept-partial.ts';
import { RecentChunks } from './handed-over.ts';
import { PrefixHasher } from './prefix-hasher.ts';
import { ReaderPace } from './reader-pace.ts';
import { createPartialReader, type BlobState as State, type ReaderHooks, type ReaderOptions } from './partial-reader.ts';
import { PieceWrites } from './piece-writes.ts';

export type { ReaderOptions } from './partial-reader.ts';

/**
 * A blob being written, in fixed-size pieces that may arrive in any order and from several
 * sources, and readable while written: readers wait for the bytes they need. The sha256 runs
 * over the contiguous prefix as it grows, on a worker thread reading the file back
 * (prefix-hasher.ts). Only a verified blob is renamed under its digest; until then
 * it lives in `shoal/partials`, with a sidecar of its fsynced complete pieces, so a fetch cut
 * short by a crash resumes after a restart (see kept-partial.ts).
 */
export class PartialBlob {
  readonly digest: Digest;
  readonly size: number;
  readonly pieceSize: number;
  readonly pieceCount: number;
  readonly tmpPath: string;
  readonly #layout: Layout;
  readonly #handle: FileHandle;
  readonly #pieces: PieceWrites;
  readonly #events = new EventEmitter();
  readonly #onCommitted: (digest: Digest, size: number) => void;
  /** Marks the digest in use while a reader is attached (so eviction leaves it alone after the commit). */
  readonly #hold: (digest: Digest) => () => void;
  readonly #hasher: PrefixHasher;
  /** Every byte is present and matches the digest (set before the commit makes the file durable). */
  #verified = false;
  #state: State = { kind: 'writing' };
  #readers = 0;
  /** Start offsets of the pieces reset so far, in order: readers that already sent their bytes must fail. */
  readonly #resetStarts: number[] = [];
  /** The last chunks written (handed over only, see handed-over.ts): readers keeping up take them from here, not the file. */
  readonly #recent = new RecentChunks();
  /** Writes far ahead of the blob's one client wait for it (see reader-pace.ts). */
  readonly #pace = new ReaderPace();
  readonly #kept: KeptPaths;
  readonly #pieceList: PieceListSaver;

  private constructor(layout: Layout, digest: Digest, size: number, pieceSize: number, kept: KeptPaths, handle: FileHandle, onCommitted: (digest: Digest, size: number) => void, hold: (digest: Digest) => () => void) {
    this.#layout = layout;
    this.#kept = kept;
    this.#pieceList = new PieceListSaver(kept, digest, size, pieceSize, () => (this.#state.kind === 'writing' ? this.completePieces() : undefined));
    const tmpPath = kept.data;
    this.digest = digest;
    this.size = size;
    this.pieceSize = pieceSize;
    this.tmpPath = tmpPath;
    this.#handle = handle;
    this.#pieces = new PieceWrites(size, pieceSize, handle);
    this.pieceCount = this.#pieces.pieceCount;
    this.#hasher = new PrefixHasher(tmpPath, digest.algorithm, size, (position) => this.availableFrom(position));
    this.#onCommitted = onCommitted;
    this.#hold = hold;
    this.#events.setMaxListeners(0);
  }

  static async create(layout: Layout, digest: Digest, size: number, pieceSize: number, onCommitted: (digest: Digest, size: number) => void = () => undefined, hold: (digest: Digest) => () => void = () => () => undefined): Promise<PartialBlob> {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid blob size ${size}`);
    if (!Number.isSafeInteger(pieceSize) || pieceSize < 1) throw new RangeError(`invalid piece size ${pieceSize}`);
    await mkdir(partialsDir(layout), { recursive: true });
    const kept = keptPaths(layout, digest);
    const { handle, complete } = await openKept(kept, digest, size, pieceSize);
    const blob = new PartialBlob(layout, digest, size, pieceSize, kept, handle, onCommitted, hold);
    // Pieces kept from before a restart: present, and hashed again from the file like early bytes.
    for (const index of complete) blob.#pieces.keep(index);
    blob.#hasher.advance();
    return blob;
  }

  get state(): State['kind'] {
    return this.#state.kind;
  }

  get readers(): number {
    return this.#readers;
  }

  pieceStart(index: number): number {
    return this.#pieces.pieceStart(index);
  }

  pieceLength(index: number): number {
    return this.#pieces.pieceLength(index);
  }

  /** Bytes of piece `index` present (its fill may have started inside it: see nextFill). */
  pieceFilled(index: number): number {
    return this.#pieces.pieceFilled(index);
  }

  isPieceComplete(index: number): boolean {
    return this.#pieces.isPieceComplete(index);
  }

  completePieces(): number[] {
    const done: number[] = [];
    for (let i = 0; i < this.pieceCount; i++) if (this.isPieceComplete(i)) done.push(i);
    return done;
  }

  get isComplete(): boolean {
    for (let i = 0; i < this.pieceCount; i++) if (!this.isPieceComplete(i)) return false;
    return true;
  }

  /** Bytes present (complete pieces and the filled parts of the rest). */
  get received(): number {
    return this.#pieces.received;
  }

  /** End (exclusive) of the bytes present without a gap from `position`. */
  availableFrom(position: number): number {
    return this.#pieces.availableFrom(position);
  }

  /**
   * The bytes of piece `index` to fetch next, [start, end) in the blob: from where its fill
   * stopped to the first byte present or the piece's end. An empty piece starts at `from` when
   * that is inside it (a Range read's first byte: its bytes come first, the head after).
   */
  nextFill(index: number, from?: number): { start: number; end: number } {
    return this.#pieces.nextFill(index, from);
  }

  /**
   * Writes bytes at `offset`, which must continue the piece it falls in (nextFill, counting the
   * writes still in flight), or start an empty one anywhere; a write may run on into following,
   * still empty, pieces. A transfer may hand over its next write before the last one landed (the
   * socket is read meanwhile): writes are recorded in order, and one that goes on from a write
   * that failed fails too, so the bytes present never have a gap.
   */
  async write(offset: number, chunk: Uint8Array): Promise<void> {
    if (this.#state.kind !== 'writing') throw new Error(`blob ${this.digest.value} is ${this.#state.kind}`);
    await this.#pieces.write(offset, chunk, () => this.#state.kind === 'writing', (completed) => {
      if (completed) this.#pieceList.schedule();
      this.#hasher.advance();
      this.#recent.remember(offset, chunk);
      this.#events.emit('change');
    });
  }

  /**
   * Undefined when a write at `offset` may go on now; else a promise to await before asking again:
   * the blob's one reader is a client far behind `offset` that still takes bytes (reader-pace.ts).
   */
  pace(offset: number): Promise<void> | undefined {
    return this.#state.kind === 'writing' ? this.#pace.wait(offset) : undefined;
  }

  /** Appends at the end of the bytes present from 0 (one sequential stream). */
  append(chunk: Uint8Array): Promise<void> {
    return this.write(this.availableFrom(0), chunk);
  }

  /** Forgets a piece's bytes (they failed verification); the hash restarts if it had covered them. */
  resetPiece(index: number): void {
    if (this.#pieces.reset(index)) this.#pieceList.schedule();
    this.#resetStarts.push(this.pieceStart(index));
    this.#recent.forget();
    this.#hasher.reset(this.pieceStart(index));
    this.#events.emit('change');
  }

  /** Reads bytes present in the temp file (to compare a piece with another source's copy). */
  async readRange(start: number, length: number): Promise<Buffer> {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await this.#handle.read(buffer, 0, length, start);
    return buffer.subarray(0, bytesRead);
  }

  /**
   * Once every piece is present: verifies the digest and, when it matches, moves the blob into the
   * store. Returns the actual digest on a mismatch and keeps the bytes for repair.
   */
  async commit(): Promise<{ ok: true } | { ok: false; actual: string }> {
    if (!this.isComplete) throw new Error(`blob ${this.digest.value} is not complete`);
    const actual = await this.#hasher.digest();
    if (actual.value !== this.digest.value) return { ok: false, actual: actual.value };
    // Readers holding the last byte back may send it now: the bytes are right. Making them durable
    // (fsync, ~0.3 s for 512 MiB) is the store's business, not the client's wait.
    this.#verified = true;
    this.#events.emit('change');
    await this.#pieceList.stop();
    await commitFile(this.#handle, this.tmpPath, this.#layout.blobData(this.digest));
    await removeKept(this.#kept);
    this.#hasher.close();
    this.#recent.forget();
    this.#state = { kind: 'committed' };
    this.#events.emit('change');
    this.#onCommitted(this.digest, this.size);
    return { ok: true };
  }

  async fail(error: Error): Promise<void> {
    if (this.#state.kind !== 'writing') return;
    this.#state = { kind: 'failed', error };
    this.#pace.wake();
    this.#hasher.close();
    this.#recent.forget();
    await Promise.allSettled([this.#pieces.settled(), this.#pieceList.stop()]);
    await this.#handle.close().catch(() => undefined);
    // Removed before anyone hears of the failure: a new fetch of the digest opens the same path.
    await removeKept(this.#kept);
    this.#events.emit('change');
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

  onChange(listener: () => void): () => void {
    this.#events.on('change', listener);
    return () => this.#events.off('change', listener);
  }

  /** A stream of `range` (or the whole blob) that waits for bytes as they arrive. */
  createReader(finalPath: string, range?: ByteRange, options: ReaderOptions = {}): Readable {
    return createPartialReader(this, this.#readerHooks(finalPath), range, options);
  }

  #readerHooks(finalPath: string): ReaderHooks {
    let release: (() => void) | undefined;
    return {
      open: async () => {
        try {
          return await open(this.tmpPath, 'r');
        } catch (error) {
          if (this.#state.kind === 'failed') throw this.#state.error;
          // Also while still 'writing': commit() renames the file, then syncs the directory, and
          // only then says 'committed'. A reader opening in between found no temp file and failed
          // (a peer got a 500 and penalised this honest host).
          if (this.#state.kind === 'committed' || isNotFound(error)) return open(finalPath, 'r');
          throw error;
        }
      },
      state: () => this.#state,
      resets: () => this.#resetStarts,
      verified: () => this.#verified,
      // A view for a lone reader too: its sender gives it back once written (send-stream.ts), so
      // the batch is reused as a copy would be, without copying it or sending it in halves.
      recent: (position, limit) => this.#recent.take(position, limit),
      alone: () => this.#readers <= 1,
      moved: (position, starved) => this.#pace.moved(position, starved, this.#readers === 1),
      // On the steady clock: a stalled process does not take the blob's sources for silent.
      wait: (ms) =>
        new Promise<boolean>((resolve) => {
          const cancel = steadyTimeout(ms, () => {
            this.#events.off('change', changed);
            resolve(false);
          });
          const changed = (): void => {
            cancel();
            resolve(true);
          };
          this.#events.once('change', changed);
        }),
      attach: () => {
        this.#readers += 1;
        this.#pace.readersChanged();
        release = this.#hold(this.digest);
      },
      detach: () => {
        this.#readers -= 1;
        this.#pace.readersChanged();
        release?.();
      },
    };
  }
}
