// One timed GET whose body is read and thrown away, and small statistics helpers.
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';

export interface TimedGet {
  readonly status: number;
  readonly bytes: number;
  /** Request start → response headers, ms. */
  readonly headersMs: number;
  /** Request start → first body byte, ms (the total when the body is empty). */
  readonly ttfbMs: number;
  /** Request start → last body byte, ms. */
  readonly totalMs: number;
  /** Body bytes per second over the whole request, in MB/s (10^6 bytes). */
  readonly mbPerSec: number;
  readonly headers: Record<string, string | string[] | undefined>;
}

/**
 * A keep-alive undici dispatcher for the benchmark client. Its bodies are read with `on('data')`:
 * no per-chunk promise as `for await` would make, so the client spends as little CPU as it can
 * (it shares the machine with the server).
 */
export function benchAgent(): Agent {
  return new Agent({ connections: 4, keepAliveTimeout: 30_000, headersTimeout: 120_000, bodyTimeout: 120_000 });
}

export interface TimedGetOptions {
  readonly headers?: Record<string, string>;
  /** Hash the body and throw unless it is this `sha256:<hex>` (costs client CPU: not for timed runs). */
  readonly verifyDigest?: string;
}

export async function timedGet(url: string, dispatcher: Agent, options: TimedGetOptions = {}): Promise<TimedGet> {
  const hash = options.verifyDigest ? createHash('sha256') : undefined;
  const start = performance.now();
  const response = await request(url, { dispatcher, headers: options.headers ?? {} });
  const headersAt = performance.now();
  let firstAt = 0;
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    const body = response.body;
    body.on('data', (chunk: Buffer) => {
      if (bytes === 0) firstAt = performance.now();
      bytes += chunk.byteLength;
      hash?.update(chunk);
    });
    body.once('end', resolve);
    body.once('error', reject);
  });
  const end = performance.now();
  const totalMs = end - start;
  if (hash) {
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== options.verifyDigest) throw new Error(`GET ${url}: ${response.statusCode}, body has digest ${actual}, expected ${options.verifyDigest}`);
  }
  return {
    status: response.statusCode,
    bytes,
    headersMs: headersAt - start,
    ttfbMs: (firstAt || end) - start,
    totalMs,
    mbPerSec: bytes / 1e6 / (totalMs / 1000),
    headers: response.headers,
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Progress line on stderr, with the seconds since the benchmark started. */
const t0 = performance.now();
export function progress(message: string): void {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${message}\n`);
}

/**
 * One timed GET by curl, body to /dev/null. A C client spends far less CPU per byte than any
 * Node client, and on a 2-core machine the client shares the cores with the server: a heavy
 * client would measure itself, not the server.
 */
export async function curlGet(url: string): Promise<TimedGet> {
  const { execFile } = await import('node:child_process');
  const format = '%{http_code} %{size_download} %{time_starttransfer} %{time_total}';
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile('curl', ['-s', '-o', '/dev/null', '-w', format, url], { timeout: 300_000 }, (error, out) => (error ? reject(error) : resolve(out))),
  );
  const [code, size, ttfb, total] = stdout.trim().split(' ').map(Number) as [number, number, number, number];
  return { status: code, bytes: size, headersMs: ttfb * 1000, ttfbMs: ttfb * 1000, totalMs: total * 1000, mbPerSec: size / 1e6 / total, headers: {} };
}
