// Readers of a PartialBlob: each reads what has arrived and waits for the rest, and fails
// rather than end cleanly on bytes that could still turn out wrong (see ReaderOptions).
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { OciError, type ByteRange, type Digest } from '../oci/index.ts';
import { chunkBytes, giveChunk, takeChunk } from '../lib/download-budget.ts';

/** Largest chunk a reader reads or copies at once. */
const MAX_READ_BYTES = 256 * 1024;

/**
 * A read's size: the download budget's share at the moment, at most MAX_READ_BYTES. (1 MiB was
 * tried for readers far behind their writer: the 200-client crowd of bench/memory.bench.ts peaked
 * 20 MiB higher and spent a third more CPU, and the pull-through gained nothing measurable.)
 */
const readChunk = (): number => chunkBytes(MAX_READ_BYTES);

/**
 * Whether a reader behind its writer reads its next chunk while one is sent: only while the
 * budget's share covers both. Reading from the file one chunk at a time, with the socket idle
 * meanwhile, held a lone pull-through client to ~200 MB/s while its blob arrived at ~400
 * (bench/registry.bench.ts). Readers sharing a blob do not (see ReaderHooks.alone): the
 * 200-client crowd of bench/memory.bench.ts peaked ~10 MiB higher when they did.
 */
const readsAhead = (): boolean => chunkBytes() >= 2 * MAX_READ_BYTES;

export type BlobState = { kind: 'writing' } | { kind: 'committed' } | { kind: 'failed'; error: Error };

/** What a reader needs of the blob it reads. */
export interface ReadableBlob {
  readonly digest: Digest;
  readonly size: number;
  readonly pieceSize: number;
  pieceLength(index: number): number;
  /** End (exclusive) of the bytes present without a gap from `position`. */
  availableFrom(position: number): number;
}

export interface ReaderOptions {
  /**
   * Hold the blob's last byte back until the digest is verified, so a client never receives a
   * complete, clean response for bytes that then fail verification (it sees the transfer break
   * off instead). Peers verify themselves and need not wait.
   */
  readonly holdBackUnverified?: boolean;
  /** Fail a reader that has waited this long without any new byte arriving. */
  readonly idleTimeoutMs?: number;
}

export interface ReaderHooks {
  open(): Promise<FileHandle>;
  state(): BlobState;
  /** Start offsets of the pieces reset so far (append-only). */
  resets(): readonly number[];
  /** Every byte matches the digest (the commit may still be making the file durable). */
  verified?(): boolean;
  /**
   * Up to `limit` bytes from `position` still in memory, as just written, if any, for the reader
   * to send as they are (see RecentChunks.take).
   */
  recent?(position: number, limit: number): Buffer | undefined;
  /** No other reader reads the blob now (only then is the next chunk read ahead). */
  alone?(): boolean;
  /**
   * A client's reader (one that reads to the end and holds the last byte back) took the bytes
   * before `position`, and now waits for more (`starved`) or not: writes far ahead of it may wait
   * for it (PartialBlob.pace).
   */
  moved?(position: number, starved: boolean): void;
  /** Resolves true on the next change, false after `ms` without one. */
  wait(ms: number): Promise<boolean>;
  attach(): void;
  detach(): void;
}

const DEFAULT_READER_IDLE_MS = 60_000;

export function createPartialReader(blob: ReadableBlob, hooks: ReaderHooks, range: ByteRange | undefined, options: ReaderOptions): Readable {
  const last = range?.end ?? blob.size - 1;
  const holdBack = options.holdBackUnverified ?? true;
  const idleMs = options.idleTimeoutMs ?? DEFAULT_READER_IDLE_MS;
  const first = range?.start ?? 0;
  // Peers read pieces and verify for themselves; only a client's download paces the writers.
  const paces = holdBack && last >= blob.size - 1;
  const moved = (starved: boolean): void => {
    if (paces) hooks.moved?.(position, starved);
  };
  let position = first;
  let seenResets = hooks.resets().length;
  let handle: FileHandle | undefined;
  /** The next chunk being read from the file while the last one is sent, from `position`, as of `resets` pieces reset. */
  let ahead: { position: number; resets: number; chunk: Promise<Buffer> } | undefined;
  // A pooled chunk: a sender that is done with it gives it back (download-budget.ts).
  const readFile = async (at: number, length: number): Promise<Buffer> => {
    const buffer = takeChunk(length);
    const { bytesRead } = await handle!.read(buffer, 0, length, at);
    if (bytesRead === 0) throw new Error(`blob ${blob.digest.value} ended early at byte ${at}`);
    return buffer.subarray(0, bytesRead);
  };
  /** The chunk read ahead, if it is the next one and no piece was reset since (its bytes may be old). */
  const takeAhead = async (): Promise<Buffer | undefined> => {
    const taken = ahead;
    ahead = undefined;
    if (taken && taken.position === position && taken.resets === hooks.resets().length) return taken.chunk;
    void taken?.chunk.then(giveChunk, () => undefined);
    return undefined;
  };
  hooks.attach();
  let attached = true;
  const stream: Readable = new Readable({
    // Nothing buffered: a chunk is read once the previous one is taken. A crowd's responses each
    // held a second, read-ahead chunk besides the one being written (bench/memory.bench.ts). Only
    // a reader behind its writer reads its next chunk from the file while one is sent (ahead).
    highWaterMark: 0,
    read: async () => {
      try {
        if (!handle) {
          const opened = await hooks.open();
          // Destroyed while the file was opening (the client went away): destroy found no handle
          // to close, so this one is closed here, not left to the garbage collector.
          if (stream.destroyed) {
            await opened.close().catch(() => undefined);
            return;
          }
          handle = opened;
        }
        for (;;) {
          const state = hooks.state();
          if (state.kind === 'failed') throw state.error;
          // A piece this reader already passed on failed verification and was reset: the bytes it
          // sent were wrong, so it must break off rather than go on (and end cleanly after repair).
          const resets = hooks.resets();
          for (; seenResets < resets.length; seenResets++) {
            const start = resets[seenResets]!;
            // Sent so far: [first, position). A reader that starts inside the piece (a Range read)
            // and has sent nothing yet just waits for the new bytes.
            if (position > first && start < position && start + blob.pieceLength(Math.floor(start / blob.pieceSize)) > first) {
              throw new Error(`bytes of ${blob.digest.value} already sent (the piece at byte ${start}) failed verification`);
            }
          }
          const verified = state.kind === 'committed' || hooks.verified?.() === true;
          const reachesEnd = last >= blob.size - 1;
          if (position > last) {
            stream.push(null);
            return;
          }
          const available = verified ? blob.size : blob.availableFrom(position) - (holdBack && reachesEnd && blob.availableFrom(position) >= blob.size ? 1 : 0);
          if (position < available) {
            let chunk = await takeAhead();
            if (!chunk) {
              const kept = hooks.recent?.(position, Math.min(available - position, last - position + 1));
              if (kept) {
                position += kept.byteLength;
                moved(false);
                stream.push(kept);
                return;
              }
              chunk = await readFile(position, Math.min(readChunk(), available - position, last - position + 1));
            }
            position += chunk.byteLength;
            // Behind its writer: the next chunk is read from the file while this one is sent.
            const next = Math.min(readChunk(), available - position, last - position + 1);
            if (next > 0 && !stream.destroyed && hooks.alone?.() === true && readsAhead()) ahead = { position, resets: hooks.resets().length, chunk: readFile(position, next) };
            ahead?.chunk.catch(() => undefined); // taken or dropped later
            moved(false);
            stream.push(chunk);
            return;
          }
          moved(true);
          if (!(await hooks.wait(idleMs))) throw new OciError('UNAVAILABLE', `no bytes of ${blob.digest.value} arrived for ${idleMs} ms: its sources stalled; retry the pull`);
        }
      } catch (error) {
        stream.destroy(error as Error);
      }
    },
    destroy(error, callback) {
      void ahead?.chunk.then(giveChunk, () => undefined);
      ahead = undefined;
      if (attached) {
        attached = false;
        hooks.detach();
      }
      const fh = handle;
      handle = undefined;
      if (fh) fh.close().then(() => callback(error), () => callback(error));
      else callback(error);
    },
  });
  return stream;
}
