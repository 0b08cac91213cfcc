// Buffers as the piece engine writes them: batches of their own, handed over to the blob, which
// may keep them for its readers (store/handed-over.ts).
import { handOver } from '../../src/store/index.ts';

/** A copy of `bytes` in a buffer of its own, handed over as coalesce.ts's batches are. */
export function handedOver(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  handOver(copy);
  return copy;
}
