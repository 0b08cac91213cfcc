// The memory benchmark's fuzz-like load: a few thousand requests of every kind a registry meets,
// good and bad, several at once: manifests by tag and digest, blob GET / HEAD / Range, uploads
// (monolithic and chunked), malformed names, digests and ranges, unknown things, and clients that
// hang up mid-body. Each kind has the status it must get; a different one is counted and shown.
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { OCI_MANIFEST } from './push.ts';

interface Descriptor {
  readonly digest: string;
  readonly size: number;
}

export interface MixedTarget {
  readonly base: string;
  readonly name: string;
  readonly tag: string;
  readonly manifestDigest: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

interface Outcome {
  readonly status: number;
  readonly expected: readonly number[];
}

type Kind = (t: MixedTarget, dispatcher: Agent, rnd: () => number) => Promise<Outcome>;

const ZERO_DIGEST = `sha256:${'0'.repeat(64)}`;
const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const pick = <T>(items: readonly T[], rnd: () => number): T => items[Math.floor(rnd() * items.length)]!;

async function call(url: string, dispatcher: Agent, options: { method?: string; headers?: Record<string, string>; body?: Uint8Array } = {}): Promise<{ status: number; headers: Record<string, unknown> }> {
  const response = await request(url, { dispatcher, method: (options.method ?? 'GET') as 'GET', headers: options.headers ?? {}, ...(options.body ? { body: options.body } : {}) });
  await response.body.dump({ limit: Number.MAX_SAFE_INTEGER });
  return { status: response.statusCode, headers: response.headers };
}

const status = async (expected: readonly number[], pending: Promise<{ status: number }>): Promise<Outcome> => ({ status: (await pending).status, expected });

/** A GET that reads the first chunk of a layer and hangs up, as a cancelled pull does. */
async function abortedGet(t: MixedTarget, dispatcher: Agent, rnd: () => number): Promise<Outcome> {
  const controller = new AbortController();
  const response = await request(`${t.base}/v2/${t.name}/blobs/${pick(t.layers, rnd).digest}`, { dispatcher, signal: controller.signal });
  await new Promise<void>((resolve) => {
    response.body.once('data', () => {
      controller.abort();
      resolve();
    });
    response.body.once('error', () => resolve());
    response.body.once('end', () => resolve());
  });
  return { status: response.statusCode, expected: [200] };
}

async function chunkedUpload(t: MixedTarget, dispatcher: Agent, rnd: () => number): Promise<Outcome> {
  const body = randomBytes(1 + Math.floor(rnd() * 512 * 1024));
  const name = `mixed/push-${Math.floor(rnd() * 8)}`;
  const started = await call(`${t.base}/v2/${name}/blobs/uploads/`, dispatcher, { method: 'POST', headers: { 'content-length': '0' } });
  if (started.status !== 202) return { status: started.status, expected: [202] };
  const location = new URL(String(started.headers.location), t.base);
  const half = Math.floor(body.byteLength / 2);
  const patch = await call(location.href, dispatcher, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${half - 1}` }, body: body.subarray(0, half) });
  if (half > 0 && patch.status !== 202) return { status: patch.status, expected: [202] };
  const next = new URL(String(patch.headers.location ?? location.href), t.base);
  next.searchParams.set('digest', sha256(body));
  return status([201], call(next.href, dispatcher, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: body.subarray(half) }));
}

/** Request kinds with their weights (out of the sum) and the statuses each may get. */
const KINDS: ReadonlyArray<readonly [number, string, Kind]> = [
  [12, 'manifest by tag', (t, d) => status([200], call(`${t.base}/v2/${t.name}/manifests/${t.tag}`, d, { headers: { accept: OCI_MANIFEST } }))],
  [8, 'manifest by digest', (t, d) => status([200], call(`${t.base}/v2/${t.name}/manifests/${t.manifestDigest}`, d, { headers: { accept: OCI_MANIFEST } }))],
  [4, 'manifest HEAD', (t, d) => status([200], call(`${t.base}/v2/${t.name}/manifests/${t.tag}`, d, { method: 'HEAD', headers: { accept: OCI_MANIFEST } }))],
  [4, 'unknown tag', (t, d, r) => status([404], call(`${t.base}/v2/${t.name}/manifests/nope-${Math.floor(r() * 1e6)}`, d))],
  [8, 'config blob', (t, d) => status([200], call(`${t.base}/v2/${t.name}/blobs/${t.config.digest}`, d))],
  [8, 'blob HEAD', (t, d, r) => status([200], call(`${t.base}/v2/${t.name}/blobs/${pick(t.layers, r).digest}`, d, { method: 'HEAD' }))],
  [16, 'blob range', (t, d, r) => {
    const layer = pick(t.layers, r);
    const start = Math.floor(r() * (layer.size - 1));
    const end = Math.min(layer.size - 1, start + Math.floor(r() * 1024 * 1024));
    return status([206], call(`${t.base}/v2/${t.name}/blobs/${layer.digest}`, d, { headers: { range: `bytes=${start}-${end}` } }));
  }],
  [3, 'whole layer', (t, d, r) => status([200], call(`${t.base}/v2/${t.name}/blobs/${pick(t.layers, r).digest}`, d))],
  [3, 'hang up mid-layer', abortedGet],
  [4, 'bad range', (t, d, r) => status([416], call(`${t.base}/v2/${t.name}/blobs/${pick(t.layers, r).digest}`, d, { headers: { range: `bytes=${pick(t.layers, r).size * 4}-` } }))],
  [4, 'unknown blob', (t, d) => status([404], call(`${t.base}/v2/${t.name}/blobs/${ZERO_DIGEST}`, d))],
  [4, 'bad digest', (t, d, r) => status([400, 404], call(`${t.base}/v2/${t.name}/blobs/${pick(['sha256:xyz', 'md5:abc', 'sha256:', `sha256:${'A'.repeat(64)}`], r)}`, d))],
  [4, 'bad name', (t, d, r) => status([400, 404], call(`${t.base}/v2/${pick(['UPPER/case', 'a/../b', 'x//y', '-lead', 'a'.repeat(300)], r)}/manifests/latest`, d))],
  [6, 'monolithic upload', (t, d, r) => {
    const body = randomBytes(1 + Math.floor(r() * 256 * 1024));
    return status([201], call(`${t.base}/v2/mixed/mono-${Math.floor(r() * 8)}/blobs/uploads/?digest=${sha256(body)}`, d, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body }));
  }],
  [4, 'chunked upload', chunkedUpload],
  [3, 'upload, wrong digest', (t, d, r) => {
    const body = randomBytes(1 + Math.floor(r() * 64 * 1024));
    return status([400], call(`${t.base}/v2/mixed/bad/blobs/uploads/?digest=${ZERO_DIGEST}`, d, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body }));
  }],
  [2, 'tags list', (t, d) => status([200], call(`${t.base}/v2/${t.name}/tags/list`, d))],
  [2, 'catalog', (t, d) => status([200], call(`${t.base}/v2/_catalog`, d))],
];

export interface MixedResult {
  readonly requests: number;
  readonly seconds: number;
  /** count by kind */
  readonly kinds: Readonly<Record<string, number>>;
  /** requests that got a status their kind must not get, with the first few examples */
  readonly unexpected: number;
  readonly examples: readonly string[];
}

/** A small seeded generator, so two runs send the same mix. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function mixedLoad(target: MixedTarget, requests: number, concurrency: number, seed = 9): Promise<MixedResult> {
  const dispatcher = new Agent({ connections: concurrency, pipelining: 1, headersTimeout: 60_000, bodyTimeout: 60_000 });
  const rnd = random(seed);
  const total = KINDS.reduce((sum, [w]) => sum + w, 0);
  const kinds: Record<string, number> = {};
  const examples: string[] = [];
  let unexpected = 0;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < requests) {
      next++;
      let roll = rnd() * total;
      const [, label, kind] = KINDS.find(([w]) => (roll -= w) < 0) ?? KINDS[0]!;
      kinds[label] = (kinds[label] ?? 0) + 1;
      let outcome: Outcome | string;
      try {
        outcome = await kind(target, dispatcher, rnd);
      } catch (error) {
        outcome = error instanceof Error ? error.message : String(error);
      }
      if (typeof outcome === 'string' || !outcome.expected.includes(outcome.status)) {
        unexpected++;
        if (examples.length < 5) examples.push(`${label}: ${typeof outcome === 'string' ? outcome : `${outcome.status}, expected ${outcome.expected.join(' or ')}`}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await dispatcher.close();
  }
  return { requests, seconds: (performance.now() - started) / 1000, kinds, unexpected, examples };
}
