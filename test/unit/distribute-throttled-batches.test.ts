// A capped transfer (download-rate, seed-rate) passes the body's write batches through the rate
// limiter and then coalesce, which gives each chunk's batch back once it copied the chunk. When
// the limiter cut a batch into slices, the first slice's release put the whole batch back in the
// pool while the rest of it was still to be copied: the next batch taken could be that very one
// (bytes overwritten), or a full pool detached it (a daemon crashed with "Cannot perform Construct
// on a detached ArrayBuffer" in the HTTP body's next read).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { coalesce } from '../../src/distribute/coalesce.ts';
import { RateLimit, throttled } from '../../src/distribute/rate-limit.ts';
import { WRITE_BATCH_BYTES } from '../../src/distribute/piece-run.ts';
import { releaseBatch, takeBatch } from '../../src/store/write-batches.ts';

const sha256 = (chunks: readonly Uint8Array[]): string => {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
};

/**
 * Write batches as an HTTP body hands them over: taken from the pool, filled and held once, the
 * socket read on into the next batch while the consumer (here, the rate limiter) waits.
 */
async function* bodyBatches(count: number, expected: Buffer[]): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let taken = 0;
  const readOn = (): void => {
    while (taken < count && queue.length < 2) {
      const batch = takeBatch(WRITE_BATCH_BYTES);
      for (let at = 0; at < batch.byteLength; at += 4) batch.writeUInt32LE((taken * 0x9e3779b1 + at) >>> 0, at);
      expected.push(Buffer.from(batch));
      queue.push(batch);
      taken += 1;
    }
  };
  const socket = setInterval(readOn, 1);
  try {
    for (let given = 0; given < count; given++) {
      readOn();
      yield queue.shift()!;
    }
  } finally {
    clearInterval(socket);
  }
}

test('batches through the rate limiter and coalesce come out whole and unchanged, the pool reusing them', async () => {
  const expected: Buffer[] = [];
  const out: Buffer[] = [];
  // Slow enough that the limiter waits (past its burst) between slices, while the socket reads on.
  const limit = new RateLimit('download', 16 * 1024 * 1024);
  for await (const written of coalesce(throttled(bodyBatches(12, expected), [limit]), WRITE_BATCH_BYTES)) {
    // The consumer copies (the file write) and gives the batch back, as piece-run does.
    out.push(Buffer.from(written));
    releaseBatch(written);
  }
  assert.equal(Buffer.concat(out).byteLength, 12 * WRITE_BATCH_BYTES);
  assert.equal(sha256(out), sha256(expected));
});
