// Buffers whose writer gives them up once written: a PartialBlob may keep them for its readers
// (handed-over.ts) because nobody refills them while they are kept. coalesce.ts's batches are
// such buffers (write-batches.ts); anything else (a buffer its owner reuses, a slice of a shared
// pool) is read back from the file instead. Its own module so write-batches.ts and
// handed-over.ts both use it without importing each other.

const handedOver = new WeakSet<ArrayBufferLike>();

/** Marks `bytes` as never written to again; only a view over a whole ArrayBuffer of its own can be. */
export function handOver(bytes: Uint8Array): void {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) handedOver.add(bytes.buffer);
}

export function isHandedOver(bytes: Uint8Array): boolean {
  return handedOver.has(bytes.buffer);
}
