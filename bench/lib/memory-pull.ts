// The memory benchmark's crowd: N clients at once pull one image through a node, as docker does
// (manifest by tag, config, then the layers three at a time), every body read in full and its
// sha256 checked against the manifest.
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
import { OCI_MANIFEST } from './push.ts';

export interface PulledImage {
  readonly name: string;
  readonly tag: string;
}

interface Descriptor {
  readonly digest: string;
  readonly size: number;
}

/** Layers in flight per client: docker's max-concurrent-downloads default. */
const LAYERS_AT_ONCE = 3;

export interface CrowdResult {
  readonly clients: number;
  readonly bytes: number;
  readonly seconds: number;
}

/** A dispatcher with one connection per request in flight, as N separate docker daemons have. */
export function crowdAgent(): Agent {
  return new Agent({ pipelining: 1, keepAliveTimeout: 10_000, headersTimeout: 300_000, bodyTimeout: 300_000 });
}

async function getVerified(url: string, dispatcher: Agent, expected: Descriptor, headers: Record<string, string> = {}): Promise<number> {
  const response = await request(url, { dispatcher, headers });
  const hash = createHash('sha256');
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    response.body.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength;
      hash.update(chunk);
    });
    response.body.once('end', resolve);
    response.body.once('error', reject);
  });
  const digest = `sha256:${hash.digest('hex')}`;
  if (response.statusCode !== 200 || digest !== expected.digest || bytes !== expected.size) {
    throw new Error(`GET ${url}: ${response.statusCode}, ${bytes} bytes with digest ${digest}; expected ${expected.size} bytes, ${expected.digest}`);
  }
  return bytes;
}

async function pullOnce(base: string, image: PulledImage, manifestDescriptor: Descriptor, dispatcher: Agent): Promise<number> {
  const manifestUrl = `${base}/v2/${image.name}/manifests/${image.tag}`;
  const manifestResponse = await request(manifestUrl, { dispatcher, headers: { accept: OCI_MANIFEST } });
  const manifestBytes = Buffer.from(await manifestResponse.body.arrayBuffer());
  const manifestDigest = `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`;
  if (manifestResponse.statusCode !== 200 || manifestDigest !== manifestDescriptor.digest) {
    throw new Error(`GET ${manifestUrl}: ${manifestResponse.statusCode}, digest ${manifestDigest}, expected ${manifestDescriptor.digest}`);
  }
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
  const blobUrl = (d: Descriptor): string => `${base}/v2/${image.name}/blobs/${d.digest}`;
  let bytes = manifestBytes.byteLength + (await getVerified(blobUrl(manifest.config), dispatcher, manifest.config));
  const queue = [...manifest.layers];
  const worker = async (): Promise<void> => {
    for (let layer = queue.shift(); layer; layer = queue.shift()) {
      const got = await getVerified(blobUrl(layer), dispatcher, layer);
      bytes += got;
    }
  };
  await Promise.all(Array.from({ length: LAYERS_AT_ONCE }, worker));
  return bytes;
}

/** `clients` pulls of `image` from `base` started at the same moment; throws on the first wrong byte. */
export async function pullCrowd(base: string, image: PulledImage, manifest: Descriptor, clients: number): Promise<CrowdResult> {
  const dispatcher = crowdAgent();
  const started = performance.now();
  try {
    const totals = await Promise.all(Array.from({ length: clients }, () => pullOnce(base, image, manifest, dispatcher)));
    return { clients, bytes: totals.reduce((a, b) => a + b, 0), seconds: (performance.now() - started) / 1000 };
  } finally {
    await dispatcher.close();
  }
}
