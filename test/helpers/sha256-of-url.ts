import { createHash } from 'node:crypto';

/** GETs `url` and hashes the body as it streams: status, `sha256:<hex>` and byte count. */
export async function sha256Of(url: string): Promise<{ status: number; digest: string; bytes: number }> {
  const response = await fetch(url);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of response.body!) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { status: response.status, digest: `sha256:${hash.digest('hex')}`, bytes };
}
