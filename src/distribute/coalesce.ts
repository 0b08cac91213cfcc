import { handOver } from '../store/index.ts';

/**
 * Joins small network chunks (often 16–64 KiB) into writes of at least `minBytes`: each write to
 * the blob file is a round trip through libuv's thread pool, and paying it per socket read made
 * a pull-through run at a fifth of the seed's speed (bench/registry.bench.ts, phase 3). A joined
 * batch is a buffer of its own, handed over: nobody writes to it again, so the blob keeps the
 * last ones for its readers (store/handed-over.ts).
 */
export async function* coalesce(source: AsyncIterable<Buffer>, minBytes: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    pending.push(chunk);
    size += chunk.byteLength;
    if (size >= minBytes) {
      yield join(pending, size);
      pending = [];
      size = 0;
    }
  }
  if (size > 0) yield join(pending, size);
}

function join(chunks: readonly Buffer[], size: number): Buffer {
  if (chunks.length === 1) return chunks[0]!;
  // Not from Buffer's shared pool (small sizes would be): a slice of it cannot be handed over.
  const joined = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const chunk of chunks) {
    joined.set(chunk, at);
    at += chunk.byteLength;
  }
  handOver(joined);
  return joined;
}
