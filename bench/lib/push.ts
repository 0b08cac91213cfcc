// Pushing with the plain Docker Registry HTTP API v2: blobs streamed from files (or small
// buffers), then an OCI image manifest by tag.
import { createReadStream } from 'node:fs';
import { request } from 'undici';
import { bytesBlob, type BlobFile } from './random-file.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

type BlobBody = { readonly file: BlobFile } | { readonly bytes: Uint8Array };

export interface PushBlobOptions {
  /**
   * true: one `POST …/blobs/uploads/?digest=` carrying the body (shoal takes it at once).
   * false: POST to open a session, then `PUT <location>?digest=` with the body; what registry:2
   * needs, as it answers the monolithic POST with 202 and ignores the body.
   * Either way a 202 to the POST is followed by the PUT.
   */
  readonly monolithicPost?: boolean;
}

function bodyOf(blob: BlobBody): { body: Uint8Array | NodeJS.ReadableStream; size: number } {
  return 'file' in blob ? { body: createReadStream(blob.file.path, { highWaterMark: 1024 * 1024 }), size: blob.file.size } : { body: blob.bytes, size: blob.bytes.byteLength };
}

export async function pushBlob(base: string, name: string, digest: string, blob: BlobBody, options: PushBlobOptions = {}): Promise<void> {
  const monolithic = options.monolithicPost ?? true;
  const postUrl = `${base}/v2/${name}/blobs/uploads/${monolithic ? `?digest=${encodeURIComponent(digest)}` : ''}`;
  const first = monolithic ? bodyOf(blob) : undefined;
  const post = await request(postUrl, {
    method: 'POST',
    headers: first ? { 'content-type': 'application/octet-stream', 'content-length': String(first.size) } : { 'content-length': '0' },
    ...(first ? { body: first.body as never } : {}),
  });
  const postText = await post.body.text();
  if (post.statusCode === 201) return;
  if (post.statusCode !== 202) throw new Error(`POST ${postUrl}: ${post.statusCode} ${postText}`);
  const location = post.headers.location;
  if (typeof location !== 'string') throw new Error(`POST ${postUrl}: 202 without a Location header`);
  const putUrl = new URL(location, base);
  putUrl.searchParams.set('digest', digest);
  const second = bodyOf(blob);
  const put = await request(putUrl, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(second.size) },
    body: second.body as never,
  });
  const putText = await put.body.text();
  if (put.statusCode !== 201) throw new Error(`PUT ${putUrl}: ${put.statusCode} ${putText}`);
}

export interface PushedImage {
  readonly name: string;
  readonly tag: string;
  /** `sha256:<hex>` of the manifest bytes */
  readonly manifestDigest: string;
  readonly manifest: Uint8Array;
}

/** Pushes `layers` (files) and a small config as an OCI image `name:tag`. Same inputs give the same manifest bytes. */
export async function pushImage(base: string, name: string, tag: string, layers: readonly BlobFile[], options: PushBlobOptions = {}): Promise<PushedImage> {
  const config = bytesBlob(Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) },
  })));
  for (const layer of layers) await pushBlob(base, name, layer.digest, { file: layer }, options);
  await pushBlob(base, name, config.digest, { bytes: config.content }, options);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ mediaType: OCI_LAYER, digest: layer.digest, size: layer.size })),
  }));
  const manifestDigest = await pushManifest(base, name, tag, manifest);
  return { name, tag, manifestDigest, manifest };
}

export async function pushManifest(base: string, name: string, reference: string, manifest: Uint8Array, mediaType = OCI_MANIFEST): Promise<string> {
  const url = `${base}/v2/${name}/manifests/${reference}`;
  const response = await request(url, { method: 'PUT', headers: { 'content-type': mediaType }, body: manifest });
  const text = await response.body.text();
  if (response.statusCode !== 201) throw new Error(`PUT ${url}: ${response.statusCode} ${text}`);
  const digest = response.headers['docker-content-digest'];
  const expected = bytesBlob(manifest).digest;
  if (digest !== undefined && digest !== expected) throw new Error(`PUT ${url}: Docker-Content-Digest ${String(digest)}, expected ${expected}`);
  return expected;
}
