import type { Readable } from 'node:stream';
import { releaseBatch, takeBatch } from '../store/write-batches.ts';

/**
 * A chunk that comes this long after the one before is written at once, with the bytes gathered
 * before it: the source is slow (a starved seed link, a body passing on its bytes in parts:
 * lib/http1-body.ts PARTIAL_PUSH_MS), and the peers reading the piece from this host should see
 * its bytes as they come, not a batch's worth later (a read idle 30 s is given up).
 */
export const SLOW_CHUNK_GAP_MS = 500;

/**
 * Joins small network chunks (often 16–64 KiB) into writes of `batchBytes`: each write to the
 * blob file is a round trip through libuv's thread pool, and paying it per socket read made a
 * pull-through run at a fifth of the seed's speed (bench/registry.bench.ts, phase 3). Batches
 * come from write-batches.ts, handed over (the blob keeps the last ones for its readers) and held
 * once for the consumer, who gives its hold back with releaseBatch once the batch is written. A
 * chunk already as large as a batch is passed on as it is (after the bytes gathered before it).
 */
export async function* coalesce(source: AsyncIterable<Buffer>, batchBytes: number): AsyncGenerator<Buffer> {
  let batch: Buffer | undefined;
  let size = 0;
  let lastAt = performance.now();
  for await (const chunk of source) {
    const now = performance.now();
    const slow = now - lastAt >= SLOW_CHUNK_GAP_MS;
    lastAt = now;
    if (chunk.byteLength >= batchBytes) {
      // Already a batch (a peer's body comes so: peer-http.ts): the bytes gathered so far go first.
      if (batch && size > 0) yield batch.subarray(0, size);
      batch = undefined;
      size = 0;
      yield chunk;
      continue;
    }
    for (let at = 0; at < chunk.byteLength; ) {
      batch ??= takeBatch(batchBytes);
      const take = Math.min(batchBytes - size, chunk.byteLength - at);
      batch.set(at === 0 && take === chunk.byteLength ? chunk : chunk.subarray(at, at + take), size);
      size += take;
      at += take;
      if (size === batchBytes) {
        const full = batch;
        batch = undefined;
        size = 0;
        yield full;
      }
    }
    // Copied: a chunk that is itself a write batch is free again.
    releaseBatch(chunk);
    if (slow && batch && size > 0) {
      const gathered = batch.subarray(0, size);
      batch = undefined;
      size = 0;
      yield gathered;
    }
  }
  if (batch && size > 0) yield batch.subarray(0, size);
}

/** Bytes of a stream's chunks held unread before it is paused (two write batches). */
const BYTES_AHEAD = 1024 * 1024;

/**
 * A stream's chunks one by one, as they were pushed. A Readable's own async iterator joins all
 * the chunks buffered at each step into a fresh buffer: a copy and an allocation per step, and
 * write batches (a peer's body) lost to the pool.
 */
export async function* chunksOf(stream: Readable): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let queued = 0;
  let done = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const onData = (chunk: Buffer): void => {
    queue.push(chunk);
    queued += chunk.byteLength;
    if (queued >= BYTES_AHEAD) stream.pause();
    wake?.();
  };
  const onEnd = (): void => {
    done = true;
    wake?.();
  };
  const onError = (error: Error): void => {
    failure = error;
    onEnd();
  };
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('close', onEnd);
  stream.once('error', onError);
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) {
        queued -= chunk.byteLength;
        if (queued < BYTES_AHEAD / 2 && stream.isPaused()) stream.resume();
        yield chunk;
        continue;
      }
      if (failure) throw failure;
      if (done) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('close', onEnd);
    stream.off('error', onError);
  }
}
