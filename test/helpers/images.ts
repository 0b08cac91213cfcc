// Test images: deterministic layers (random bytes, or real gzipped tarballs docker can load),
// a config, the manifest and its digest; pushing them over the plain registry HTTP API; and
// writing them as an OCI layout for `skopeo copy oci:<dir>:<tag> ...`.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { ustar, type TarFile } from './tar.ts';

export type { TarFile } from './tar.ts';

export const LAYER_MEDIA_TYPES = {
  docker: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  oci: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;
export const CONFIG_MEDIA_TYPES = {
  docker: 'application/vnd.docker.container.image.v1+json',
  oci: 'application/vnd.oci.image.config.v1+json',
} as const;
export const MANIFEST_TYPES = {
  docker: 'application/vnd.docker.distribution.manifest.v2+json',
  oci: 'application/vnd.oci.image.manifest.v1+json',
} as const;

/** Layers at least this big are generated to a file instead of memory. */
export const DEFAULT_FILE_THRESHOLD = 16 * 1024 * 1024;
const CHUNK = 1024 * 1024;

export interface TestBlob {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  /** The bytes, for blobs kept in memory. */
  readonly data?: Buffer;
  /** The file holding the bytes, for big blobs. */
  readonly path?: string;
}

export interface TarLayer extends TestBlob {
  readonly data: Buffer;
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  readonly diffId: string;
}

export interface TestImage {
  readonly format: 'docker' | 'oci';
  readonly mediaType: string;
  readonly config: TestBlob & { readonly data: Buffer };
  readonly layers: readonly TestBlob[];
  readonly manifest: Buffer;
  readonly digest: string;
  /** config then layers */
  readonly blobs: readonly TestBlob[];
  /** Removes the files of file-backed layers made in a temp dir. */
  cleanup(): Promise<void>;
}

export interface MakeImageOptions {
  /** Each entry: a size in bytes for a layer of deterministic random bytes, or a layer from makeTarLayer. */
  readonly layers: ReadonlyArray<number | TarLayer>;
  readonly seed?: string;
  readonly format?: 'docker' | 'oci';
  /** Where file-backed layers go; a temp dir (removed by cleanup()) when absent. */
  readonly dir?: string;
  readonly fileThreshold?: number;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A deterministic byte generator: AES-256-CTR keystream keyed by the seed. Fast enough for GBs. */
function keystream(seed: string) {
  const key = createHash('sha256').update(`key:${seed}`).digest();
  const iv = createHash('sha256').update(`iv:${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-256-ctr', key, iv);
}

export function randomBytesFrom(seed: string, size: number): Buffer {
  return keystream(seed).update(Buffer.alloc(size));
}

/** Writes `size` deterministic random bytes to `path` through a stream; returns their digest. */
export async function writeRandomFile(path: string, seed: string, size: number): Promise<string> {
  const cipher = keystream(seed);
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  const zeros = Buffer.alloc(CHUNK);
  for (let written = 0; written < size; ) {
    const n = Math.min(CHUNK, size - written);
    const chunk = cipher.update(n === CHUNK ? zeros : zeros.subarray(0, n));
    hash.update(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
    written += n;
  }
  out.end();
  await once(out, 'finish');
  return `sha256:${hash.digest('hex')}`;
}

export async function makeImage(options: MakeImageOptions): Promise<TestImage> {
  const format = options.format ?? 'docker';
  const seed = options.seed ?? 'shoal';
  const threshold = options.fileThreshold ?? DEFAULT_FILE_THRESHOLD;
  let tempDir: string | undefined;
  const layers: TestBlob[] = [];
  const diffIds: string[] = [];
  for (const [i, spec] of options.layers.entries()) {
    if (typeof spec !== 'number') {
      layers.push({ ...spec, mediaType: LAYER_MEDIA_TYPES[format] });
      diffIds.push(spec.diffId);
      continue;
    }
    const layerSeed = `${seed}/layer/${i}`;
    if (spec >= threshold) {
      const dir = options.dir ?? (tempDir ??= await mkdtemp(join(tmpdir(), 'shoal-image-')));
      await mkdir(dir, { recursive: true });
      const path = join(dir, `layer-${createHash('sha256').update(layerSeed).digest('hex').slice(0, 16)}-${spec}`);
      const digest = await writeRandomFile(path, layerSeed, spec);
      layers.push({ mediaType: LAYER_MEDIA_TYPES[format], digest, size: spec, path });
      diffIds.push(digest); // not a real tar: registries and skopeo do not check diff_ids
    } else {
      const data = randomBytesFrom(layerSeed, spec);
      const digest = sha256(data);
      layers.push({ mediaType: LAYER_MEDIA_TYPES[format], digest, size: spec, data });
      diffIds.push(digest);
    }
  }
  const configJson = {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/sh'], Labels: { 'org.shoal.test.seed': seed } },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map(() => ({ created_by: 'shoal test image' })),
  };
  const configData = Buffer.from(JSON.stringify(configJson));
  const config = { mediaType: CONFIG_MEDIA_TYPES[format], digest: sha256(configData), size: configData.byteLength, data: configData };
  const manifestJson = {
    schemaVersion: 2,
    mediaType: MANIFEST_TYPES[format],
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifest = Buffer.from(JSON.stringify(manifestJson, null, 2));
  return {
    format,
    mediaType: MANIFEST_TYPES[format],
    config,
    layers,
    manifest,
    digest: sha256(manifest),
    blobs: [config, ...layers],
    cleanup: async () => {
      if (tempDir) await rm(tempDir, { recursive: true, force: true });
    },
  };
}

/** A real gzipped ustar layer (docker can load it). Names up to 100 bytes, or 255 split at a '/'. */
export function makeTarLayer(files: readonly TarFile[], format: 'docker' | 'oci' = 'docker'): TarLayer {
  const tar = ustar(files);
  const data = gzipSync(tar);
  return { mediaType: LAYER_MEDIA_TYPES[format], digest: sha256(data), size: data.byteLength, data, diffId: sha256(tar) };
}

/** The bytes of a blob as a stream (memory or file). */
export function blobStream(blob: TestBlob): Readable {
  if (blob.data) return Readable.from([blob.data]);
  if (blob.path) return createReadStream(blob.path);
  throw new Error(`blob ${blob.digest} has neither data nor path`);
}

export async function blobBytes(blob: TestBlob): Promise<Buffer> {
  return blob.data ?? readFile(blob.path!);
}

export interface PushOptions {
  readonly auth?: { readonly username: string; readonly password: string };
}

/** Pushes an image with the plain registry API: monolithic uploads (POST, then PUT with the digest), then the manifest. */
export async function pushImage(registryUrl: string, repo: string, tag: string, image: TestImage, options: PushOptions = {}): Promise<void> {
  const client = new PushClient(registryUrl, repo, options.auth);
  for (const blob of image.blobs) {
    const head = await client.send('HEAD', `/v2/${repo}/blobs/${blob.digest}`);
    if (head.status === 200) continue;
    const started = await client.send('POST', `/v2/${repo}/blobs/uploads/`);
    if (started.status !== 202 || !started.location) throw new Error(`push ${repo}: POST upload answered ${started.status} ${started.text}`);
    const location = new URL(started.location, registryUrl);
    location.searchParams.set('digest', blob.digest);
    const put = await client.send('PUT', location.pathname + location.search, () => blobStream(blob), {
      'content-type': 'application/octet-stream',
      'content-length': String(blob.size),
    });
    if (put.status !== 201) throw new Error(`push ${repo}: PUT blob ${blob.digest} answered ${put.status} ${put.text}`);
  }
  const put = await client.send('PUT', `/v2/${repo}/manifests/${tag}`, () => Readable.from([image.manifest]), {
    'content-type': image.mediaType,
    'content-length': String(image.manifest.byteLength),
  });
  if (put.status !== 201) throw new Error(`push ${repo}:${tag}: PUT manifest answered ${put.status} ${put.text}`);
}

/** Just enough client for pushing: answers Basic and Bearer challenges, one retry. */
class PushClient {
  readonly #base: string;
  readonly #repo: string;
  readonly #auth: PushOptions['auth'];
  #authorization: string | undefined;

  constructor(base: string, repo: string, auth: PushOptions['auth']) {
    this.#base = base;
    this.#repo = repo;
    this.#auth = auth;
  }

  async send(method: string, path: string, body?: () => Readable, headers: Record<string, string> = {}): Promise<{ status: number; location?: string; text: string }> {
    for (let attempt = 0; ; attempt++) {
      const response = await request(new URL(path, this.#base), {
        method: method as 'GET',
        headers: { ...headers, ...(this.#authorization ? { authorization: this.#authorization } : {}) },
        ...(body ? { body: body() } : {}),
      });
      const text = method === 'HEAD' ? '' : await response.body.text();
      if (method === 'HEAD') await response.body.dump();
      if (response.statusCode === 401 && attempt === 0) {
        this.#authorization = await this.#answer(String(response.headers['www-authenticate'] ?? ''));
        continue;
      }
      const location = response.headers.location;
      return { status: response.statusCode, text, ...(typeof location === 'string' ? { location } : {}) };
    }
  }

  async #answer(challenge: string): Promise<string> {
    const basic = this.#auth ? `Basic ${Buffer.from(`${this.#auth.username}:${this.#auth.password}`).toString('base64')}` : undefined;
    if (/^basic/i.test(challenge)) {
      if (!basic) throw new Error('registry wants basic auth; pass { auth }');
      return basic;
    }
    const realm = /realm="([^"]*)"/.exec(challenge)?.[1];
    if (!/^bearer/i.test(challenge) || !realm) throw new Error(`cannot answer challenge ${challenge}`);
    const url = new URL(realm);
    const service = /service="([^"]*)"/.exec(challenge)?.[1];
    if (service) url.searchParams.set('service', service);
    url.searchParams.set('scope', `repository:${this.#repo}:pull,push`);
    const response = await request(url, { headers: basic ? { authorization: basic } : {} });
    const json = (await response.body.json()) as { token?: string; access_token?: string };
    if (response.statusCode !== 200) throw new Error(`token server answered ${response.statusCode}`);
    return `Bearer ${json.token ?? json.access_token}`;
  }
}

/**
 * Writes the image as an OCI image layout (adds the tag to an existing layout's index.json).
 * Only OCI-format images: skopeo 1.9's `oci:` transport finds no descriptor of a Docker manifest.
 */
export async function writeOciLayout(dir: string, image: TestImage, tag: string): Promise<void> {
  if (image.format !== 'oci') {
    throw new Error("writeOciLayout needs an image made with format: 'oci' (skopeo's oci: transport ignores Docker manifests)");
  }
  const blobsDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const write = async (digest: string, blob: { data?: Buffer; path?: string }) => {
    const target = join(blobsDir, digest.slice('sha256:'.length));
    if (blob.data) await writeFile(target, blob.data);
    else await copyFile(blob.path!, target);
  };
  for (const blob of image.blobs) await write(blob.digest, blob);
  await write(image.digest, { data: image.manifest });
  const indexPath = join(dir, 'index.json');
  let index: { schemaVersion: number; mediaType?: string; manifests: Array<Record<string, unknown>> } = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [],
  };
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8')) as typeof index;
  } catch {
    // a new layout
  }
  const refName = 'org.opencontainers.image.ref.name';
  index.manifests = index.manifests.filter((m) => (m.annotations as Record<string, string> | undefined)?.[refName] !== tag);
  index.manifests.push({ mediaType: image.mediaType, digest: image.digest, size: image.manifest.byteLength, annotations: { [refName]: tag } });
  await writeFile(indexPath, JSON.stringify(index));
}
