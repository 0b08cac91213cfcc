// A file of N random bytes, written chunk by chunk (never held in memory) and hashed on the way.
import { createHash, randomFillSync } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

export interface BlobFile {
  readonly path: string;
  readonly size: number;
  /** `sha256:<hex>` */
  readonly digest: string;
}

const CHUNK = 4 * 1024 * 1024;

export async function writeRandomFile(path: string, size: number): Promise<BlobFile> {
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  // Two buffers: one is filled while the other is being written.
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  try {
    let written = 0;
    let pending: Promise<unknown> = Promise.resolve();
    for (let i = 0; written < size; i++) {
      const length = Math.min(CHUNK, size - written);
      const buffer = buffers[i % 2]!.subarray(0, length);
      // This buffer's last write (two back) finished before the previous write was issued, so
      // filling it overlaps only with the previous write.
      randomFillSync(buffer);
      hash.update(buffer);
      await pending;
      pending = writeFully(handle, buffer, written);
      written += length;
    }
    await pending;
  } finally {
    await handle.close();
  }
  return { path, size, digest: `sha256:${hash.digest('hex')}` };
}

async function writeFully(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let offset = 0;
  while (offset < buffer.byteLength) {
    const { bytesWritten } = await handle.write(buffer, offset, buffer.byteLength - offset, position + offset);
    offset += bytesWritten;
  }
}

/** Bytes in memory with their digest, for small blobs (configs, manifests). */
export function bytesBlob(content: Uint8Array): { content: Uint8Array; size: number; digest: string } {
  return { content, size: content.byteLength, digest: `sha256:${createHash('sha256').update(content).digest('hex')}` };
}
