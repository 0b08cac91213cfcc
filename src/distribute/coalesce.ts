/**
 * Joins small network chunks (often 16–64 KiB) into writes of at least `minBytes`: each write to
 * the blob file is a round trip through libuv's thread pool, and paying it per socket read made
 * a pull-through run at a fifth of the seed's speed (bench/registry.bench.ts, phase 3).
 */
export async function* coalesce(source: AsyncIterable<Buffer>, minBytes: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    pending.push(chunk);
    size += chunk.byteLength;
    if (size >= minBytes) {
      yield pending.length === 1 ? pending[0]! : Buffer.concat(pending, size);
      pending = [];
      size = 0;
    }
  }
  if (size > 0) yield pending.length === 1 ? pending[0]! : Buffer.concat(pending, size);
}
