import { takeBatch } from '../store/write-batches.ts';

/**
 * Joins small network chunks (often 16–64 KiB) into writes of `batchBytes`: each write to the
 * blob file is a round trip through libuv's thread pool, and paying it per socket read made a
 * pull-through run at a fifth of the seed's speed (bench/registry.bench.ts, phase 3). Batches
 * come from write-batches.ts, handed over (the blob keeps the last ones for its readers) and held
 * once for the consumer, who gives its hold back with releaseBatch once the batch is written. A
 * chunk already as large as a batch, arriving at a batch's start, is passed on as it is.
 */
export async function* coalesce(source: AsyncIterable<Buffer>, batchBytes: number): AsyncGenerator<Buffer> {
  let batch: Buffer | undefined;
  let size = 0;
  for await (const chunk of source) {
    if (size === 0 && chunk.byteLength >= batchBytes) {
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
  }
  if (batch && size > 0) yield batch.subarray(0, size);
}
