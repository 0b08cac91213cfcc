import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { OciError } from '../oci/index.ts';
import { isDiskFull, type PartialBlob } from '../store/index.ts';
import { releaseBatch } from '../store/write-batches.ts';
import { chunksOf, coalesce } from './coalesce.ts';
import { PeerRequestError } from './peer-data.ts';
import type { PieceSource } from './piece-source.ts';
import type { Transfer, TransferTiming } from './piece-transfers.ts';
import { rangeFirstWrites } from './range-first.ts';
import { anyCap, throttled, type RateLimit } from './rate-limit.ts';
import { paceWatched } from '../lib/pace-watch.ts';
import { holderPace } from './slow-source.ts';
import { SeedRefusedError } from './seed-refusal.ts';

/** Network chunks are joined into writes of this size (see coalesce.ts). */
export const WRITE_BATCH_BYTES = 512 * 1024;
/** Batches of one transfer handed to the blob at once (see runTransfer). */
export const WRITES_IN_FLIGHT = 2;

/** What the engine does as a transfer moves bytes into the blob. */
export interface TransferHooks {
  counted(source: PieceSource, bytes: number): void;
  /** A piece is complete (filled by this source). */
  pieceDone(index: number, source: PieceSource): void;
  /** A seed read may go on into this piece (it is still ours to fetch). */
  seedContinues(index: number): boolean;
  /** A seed read starts on this piece (peers may read it while it arrives). */
  arriving(index: number): void;
  /** Something changed worth telling the peers. */
  announce(): void;
  /** The transfer is over, its pieces complete or given up. */
  ended(pieces: readonly number[]): void;
}

/** How a transfer ended: `failure` undefined when every byte it went on for arrived, else the error and where it stopped. */
export interface TransferOutcome {
  readonly failure: { readonly error: unknown; readonly offset: number } | undefined;
  readonly timing: TransferTiming;
}

/** One debug line per transfer: bench:fanout's --transfers timeline reads them. */
export function logTransfer(logger: Logger, digest: string, transfer: Transfer, { failure, timing: t }: TransferOutcome): void {
  const since = (at: number) => at && at - t.startedAt;
  logger.debug({ digest, pieces: transfer.pieces, source: transfer.source.id, kind: transfer.source.kind, demanded: transfer.demanded, at: t.startedAt, openedMs: since(t.openedAt), firstMs: since(t.firstAt), pacedMs: Math.round(t.pacedMs), ms: since(Date.now()), bytes: t.bytes, failed: failure !== undefined }, 'piece transfer');
}

/** Reads one transfer's range from its source into the blob, piece by piece, and says how it ended. */
export async function runTransfer(blob: PartialBlob, transfer: Transfer, limits: readonly RateLimit[], hooks: TransferHooks): Promise<TransferOutcome> {
  const failure = await run(blob, transfer, limits, hooks, transfer.timing);
  return { failure, timing: transfer.timing };
}

async function run(blob: PartialBlob, transfer: Transfer, limits: readonly RateLimit[], hooks: TransferHooks, timing: TransferTiming): Promise<{ error: unknown; offset: number } | undefined> {
  const { source } = transfer;
  const first = transfer.pieces[0]!;
  // Where the first piece's fill stopped (a Range read's empty piece: at the range); a run that
  // stops short of the piece's end (its head, before bytes present) ends the transfer there.
  const run = blob.nextFill(first, transfer.from);
  const start = run.start;
  let end = run.end < blob.pieceStart(first) + blob.pieceLength(first) ? run.end - 1 : blob.pieceStart(transfer.pieces.at(-1)!) + blob.pieceLength(transfer.pieces.at(-1)!) - 1;
  let offset = start;
  let stream: Readable | undefined;
  /**
   * Hands a batch's writes to the blob at once, in order (the offset moves on now), and resolves
   * once they landed. A seed read's going on into the next piece is decided here, not after.
   */
  const issue = (chunk: Buffer): Promise<void> => {
    const parts: Array<{ index: number; bytes: number; write: Promise<void>; announce: boolean }> = [];
    let data = chunk;
    while (data.byteLength > 0 && offset <= end) {
      const index = Math.floor(offset / blob.pieceSize);
      const pieceEnd = blob.pieceStart(index) + blob.pieceLength(index);
      const take = Math.min(data.byteLength, pieceEnd - offset, end + 1 - offset);
      const write = blob.write(offset, data.subarray(0, take));
      write.catch(() => undefined); // awaited in order below
      const part = { index, bytes: take, write, announce: false };
      parts.push(part);
      offset += take;
      data = data.subarray(take);
      if (offset < pieceEnd) continue;
      if (offset > end) break;
      // A long seed read goes on only while the next piece is still ours to fetch (a peer
      // that joined meanwhile owns some of them now; a peer may hold the next one already).
      if (source.kind === 'seed' && !hooks.seedContinues(index + 1)) {
        end = offset - 1;
        break;
      }
      if (source.kind === 'seed') hooks.arriving(index + 1);
      else part.announce = true;
    }
    return landed(parts);
  };
  const landed = async (parts: ReadonlyArray<{ index: number; bytes: number; write: Promise<void>; announce: boolean }>): Promise<void> => {
    for (const part of parts) {
      await part.write;
      timing.firstAt ||= Date.now();
      timing.bytes += part.bytes;
      hooks.counted(source, part.bytes);
      if (!capped) for (const limit of limits) limit.count(part.bytes);
      if (blob.isPieceComplete(part.index)) hooks.pieceDone(part.index, source);
      if (part.announce) hooks.announce();
    }
  };
  /** Batches being written, oldest first. */
  const writing: Array<Promise<void>> = [];
  let capped = false;
  const { signal } = transfer.controller;
  /** Ends a wait for the blob's client when the engine stops this transfer. */
  const stopped = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  try {
    // A seed read is told as it starts, not when the seed answers (seconds on a busy seed link):
    // a host that joins meanwhile moves owners, and the hosts asking for the piece must see that
    // it is on its way here, or its new owner reads it from the seed a second time (swarm-egress).
    if (source.kind === 'seed') hooks.arriving(first);
    stream = await source.open({ start, end }, transfer.controller.signal);
    timing.openedAt = Date.now();
    // Stopped, it reads no more at once, even with a batch half gathered (a slow read fills one in seconds).
    const opened = stream;
    signal.addEventListener('abort', () => opened.destroy(signal.reason instanceof Error ? signal.reason : new Error('the transfer was stopped')), { once: true });
    // Without a cap the bytes are only measured: a throttling wrapper costs a promise per chunk
    // on the path every byte takes (fan-out bench: a third more daemon CPU).
    capped = anyCap(limits);
    const chunks = source.fromDisk === true ? paceWatched(chunksOf(opened), holderPace(source.id), (error) => opened.destroy(error)) : chunksOf(opened);
    const body = capped ? throttled(chunks, limits, transfer.controller.signal) : chunks;
    // WRITES_IN_FLIGHT batches are written while the next one gathers: waiting for each write
    // before reading on left the socket idle for every trip through the thread pool, and one
    // write at a time left the pool idle while the event loop came round to hand over the next.
    for await (const chunk of transfer.from !== undefined ? rangeFirstWrites(body, WRITE_BATCH_BYTES) : coalesce(body, WRITE_BATCH_BYTES)) {
      if (writing.length >= WRITES_IN_FLIGHT) await writing.shift();
      // Far ahead of the blob's client, the batch waits for it (see store/reader-pace.ts).
      let paced = blob.pace(offset);
      if (paced) {
        timing.pacingSince = performance.now();
        for (; paced && !signal.aborted; paced = blob.pace(offset)) await Promise.race([paced, stopped]);
        timing.pacedMs += performance.now() - timing.pacingSince;
        timing.pacingSince = 0;
      }
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('the transfer was stopped');
      // Its writes are done once they landed: the batch may go back to the pool (unless kept).
      const write = issue(chunk).finally(() => releaseBatch(chunk));
      write.catch(() => undefined); // awaited in order, at the end, or below
      writing.push(write);
      if (offset > end) break;
    }
    await Promise.all(writing);
    if (offset <= end) throw new Error(`${source.id} ended at byte ${offset} of ${start}-${end}`);
    return undefined;
  } catch (error) {
    // The engine may give these pieces to another source once this returns: no write of ours may still land.
    await Promise.allSettled(writing);
    return { error, offset };
  } finally {
    stream?.on('error', () => undefined);
    stream?.destroy();
    hooks.ended(transfer.pieces);
  }
}

/**
 * Why a transfer stopped, as the engine acts on it:
 * - `stopped`: the engine stopped it itself;
 * - `disk-full`: our disk, not the source — no other source can help;
 * - `seed`: the seed broke off (resumed with Range, a few times);
 * - `busy`: a peer answered 503 — not a failure: asked elsewhere or again shortly, never the seed;
 * - `owner-refused`: an owner answered, then could not deliver (its seed is down or slow) — honest,
 *   skipped for this piece only;
 * - `relay-broke`: a peer relaying a piece as it arrives there broke off or refused it: its own
 *   source broke off, or it gets the piece from us (piece-readers.ts) — honest, skipped for this
 *   piece only;
 * - `peer-failed`: a peer did not answer or broke off — skipped for a while.
 */
export type TransferFailure = 'stopped' | 'disk-full' | 'seed' | 'seed-final' | 'busy' | 'owner-refused' | 'relay-broke' | 'peer-failed';

export function classifyFailure(error: unknown, source: PieceSource, stopped: boolean): TransferFailure {
  if (stopped) return 'stopped';
  if (isDiskFull(error)) return 'disk-full';
  if (source.kind === 'seed') {
    // The seed does not have the blob, says it has another size, or refuses shoal's credentials:
    // asking again will not help (a seed outage, by contrast, is waited out: piece-failures.ts).
    const final = error instanceof SeedRefusedError || (error instanceof OciError && ['SIZE_INVALID', 'BLOB_UNKNOWN', 'UNAUTHORIZED', 'DENIED'].includes(error.code));
    return final ? 'seed-final' : 'seed';
  }
  if (error instanceof PeerRequestError && error.status === 503) return 'busy';
  const unanswered = error instanceof PeerRequestError && error.status === undefined;
  if (source.kind === 'owner' && !unanswered) return 'owner-refused';
  // A dead relay is dropped by the swarm (keep-alive) and fails its next request as unanswered.
  return source.kind === 'holder' && source.fromDisk !== true && !unanswered ? 'relay-broke' : 'peer-failed';
}
