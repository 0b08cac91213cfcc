import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { MEDIA_TYPES } from '../../src/oci/index.ts';

export type Response = LightMyRequestResponse;

export { MEDIA_TYPES };

export const API_VERSION = 'registry/2.0';

/** A blob as a test knows it: bytes, digest and size. */
export interface TestBlob {
  readonly content: Buffer;
  readonly digest: string;
  readonly hex: string;
  readonly size: number;
}

export function sha256(content: Buffer | string): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

export function makeBlob(content: Buffer | string = randomBytes(64)): TestBlob {
  const buffer = Buffer.isBuffer(content) ? content : Buffer.from(content);
  const digest = sha256(buffer);
  return { content: buffer, digest, hex: digest.slice('sha256:'.length), size: buffer.byteLength };
}

/** A manifest as pushed: its exact bytes, digest and media type. */
export interface TestManifest {
  readonly body: Buffer;
  readonly digest: string;
  readonly mediaType: string;
  readonly json: Record<string, unknown>;
}

export function manifestOf(json: Record<string, unknown>, mediaType: string): TestManifest {
  const body = Buffer.from(JSON.stringify(json));
  return { body, digest: sha256(body), mediaType, json };
}

export interface DescriptorJson {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Record<string, string>;
}

export function descriptor(blob: TestBlob | TestManifest, mediaType: string, extra: Partial<DescriptorJson> = {}): DescriptorJson {
  const size = 'size' in blob ? blob.size : blob.body.byteLength;
  return { mediaType, digest: blob.digest, size, ...extra };
}

export type ImageFlavour = 'docker' | 'oci';

export interface ImageOptions {
  readonly flavour?: ImageFlavour;
  readonly config?: TestBlob;
  readonly configMediaType?: string;
  readonly layers?: readonly TestBlob[];
  readonly subject?: TestManifest | DescriptorJson;
  readonly artifactType?: string;
  readonly annotations?: Record<string, string>;
}

/** An image manifest (Docker schema2 or OCI) over the given config and layers. */
export function imageManifest(options: ImageOptions = {}): TestManifest {
  const flavour = options.flavour ?? 'oci';
  const config = options.config ?? makeBlob('{"architecture":"amd64","os":"linux"}');
  const layers = options.layers ?? [];
  const docker = flavour === 'docker';
  const mediaType = docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
  const configType = options.configMediaType ?? (docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json');
  const layerType = docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip';
  const json: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
    config: descriptor(config, configType),
    layers: layers.map((layer) => descriptor(layer, layerType)),
    ...(options.subject ? { subject: 'body' in options.subject ? descriptor(options.subject, options.subject.mediaType) : options.subject } : {}),
    ...(options.annotations ? { annotations: options.annotations } : {}),
  };
  return manifestOf(json, mediaType);
}

/** An index (OCI) or manifest list (Docker) over child manifests. */
export function indexManifest(children: readonly TestManifest[], options: { flavour?: ImageFlavour; subject?: TestManifest; artifactType?: string; annotations?: Record<string, string> } = {}): TestManifest {
  const docker = options.flavour === 'docker';
  const mediaType = docker ? MEDIA_TYPES.dockerManifestList : MEDIA_TYPES.ociIndex;
  const json: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}),
    manifests: children.map((child, i) => descriptor(child, child.mediaType, { platform: { architecture: i === 0 ? 'amd64' : `arch${i}`, os: 'linux' } })),
    ...(options.subject ? { subject: descriptor(options.subject, options.subject.mediaType) } : {}),
    ...(options.annotations ? { annotations: options.annotations } : {}),
  };
  return manifestOf(json, mediaType);
}

/** Monolithic push (`POST ...?digest=`); asserts 201. */
export async function pushBlob(app: FastifyInstance, name: string, blob: TestBlob): Promise<Response> {
  const res = await app.inject({
    method: 'POST',
    url: `/v2/${name}/blobs/uploads/?digest=${blob.digest}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: blob.content,
  });
  assert.equal(res.statusCode, 201, `push blob ${blob.digest} to ${name}: ${res.body}`);
  return res;
}

export function putManifest(app: FastifyInstance, name: string, reference: string, manifest: TestManifest, contentType: string | undefined = manifest.mediaType): Promise<Response> {
  return app.inject({
    method: 'PUT',
    url: `/v2/${name}/manifests/${reference}`,
    headers: contentType === undefined ? {} : { 'content-type': contentType },
    payload: manifest.body,
  });
}

/** Pushes a manifest's blobs (config + layers) first, then the manifest; asserts 201. */
export async function pushImage(app: FastifyInstance, name: string, reference: string, options: ImageOptions & { config?: TestBlob } = {}): Promise<{ manifest: TestManifest; config: TestBlob; layers: TestBlob[] }> {
  const config = options.config ?? makeBlob(`{"architecture":"amd64","os":"linux","nonce":"${randomBytes(6).toString('hex')}"}`);
  const layers = [...(options.layers ?? [makeBlob(), makeBlob()])];
  for (const blob of [config, ...layers]) await pushBlob(app, name, blob);
  const manifest = imageManifest({ ...options, config, layers });
  const res = await putManifest(app, name, reference, manifest);
  assert.equal(res.statusCode, 201, `push manifest ${name}:${reference}: ${res.body}`);
  return { manifest, config, layers };
}

export async function pushManifestOk(app: FastifyInstance, name: string, reference: string, manifest: TestManifest): Promise<Response> {
  const res = await putManifest(app, name, reference, manifest);
  assert.equal(res.statusCode, 201, `push manifest ${name}:${reference}: ${res.body}`);
  return res;
}

/** The error codes of a spec error body; fails the test when the body is not one. */
export function errorCodes(res: Response): string[] {
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    assert.fail(`expected a JSON error body, got ${res.statusCode} ${JSON.stringify(res.body.slice(0, 200))}`);
  }
  const errors = (body as { errors?: unknown }).errors;
  assert.ok(Array.isArray(errors) && errors.length > 0, `expected {"errors":[...]}, got ${res.body.slice(0, 200)}`);
  for (const entry of errors as Array<Record<string, unknown>>) {
    assert.equal(typeof entry.code, 'string');
    assert.equal(typeof entry.message, 'string');
  }
  return (errors as Array<{ code: string }>).map((e) => e.code);
}

/** Asserts the status, the spec's error code and the API version header. HEAD answers carry no body. */
export function assertError(res: Response, status: number, code: string, context = ''): void {
  assert.equal(res.statusCode, status, `${context} expected ${status} ${code}, got ${res.statusCode} ${res.body.slice(0, 300)}`);
  assert.equal(res.headers['docker-distribution-api-version'], API_VERSION, context);
  if (res.raw.req.method === 'HEAD') {
    assert.equal(res.body, '', context);
    return;
  }
  assert.match(String(res.headers['content-type']), /^application\/json/, context);
  assert.deepEqual(errorCodes(res), [code], context);
}

export function assertApiVersion(res: Response): void {
  assert.equal(res.headers['docker-distribution-api-version'], API_VERSION);
}

/** Every file under `dir`, relative, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** Where a blob's data lives in the registry:2 layout under a data dir. */
export function blobDataPath(dataDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return join(dataDir, 'docker', 'registry', 'v2', 'blobs', algorithm, hex.slice(0, 2), hex, 'data');
}

export interface RawResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * Sends a request over a real socket with the path exactly as given: `inject()` parses URLs with
 * WHATWG URL, which folds `..` and `%2e%2e` before the app sees them. The app must be listening.
 */
export function rawRequest(app: FastifyInstance, method: string, path: string, body?: Buffer, headers: Record<string, string | number> = {}): Promise<RawResponse> {
  const { port } = app.server.address() as AddressInfo;
  const chunked = headers['transfer-encoding'] === 'chunked';
  return new Promise((resolve, reject) => {
    // One connection per request, closed after it: a kept-alive socket would hold app.close() up.
    const req = httpRequest({ host: '127.0.0.1', port, method, path, agent: false, headers: { connection: 'close', ...(body && !chunked ? { 'content-length': body.byteLength } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body && chunked) {
      // in pieces, so the server sees a stream, not one buffer
      for (let i = 0; i < body.byteLength; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
      req.end();
    } else {
      req.end(body);
    }
  });
}
