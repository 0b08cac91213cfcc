// The two figures the status snapshot lacks, read from a daemon's Prometheus text on its
// metrics-listen port: process memory (RSS, V8 heap) for the fan-out benchmark, and per-peer
// byte counters of peers that have left (the snapshot lists connected peers only).
import type { TestHost } from '../netns.ts';
import { METRICS_PORT } from './constants.ts';
import { curlIn } from './host-client.ts';

export interface MetricSamples {
  /** The sum of a metric's samples whose labels include `labels`; 0 when absent. */
  value(name: string, labels?: Readonly<Record<string, string>>): number;
}

function parseMetrics(text: string): MetricSamples {
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return {
    value: (name, labels = {}) =>
      samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0),
  };
}

export async function readMetrics(host: TestHost, context: () => string = () => ''): Promise<MetricSamples> {
  const url = `http://127.0.0.1:${METRICS_PORT}/metrics`;
  const { status, body } = await curlIn(host, url);
  if (status !== 200) throw new Error(`GET ${url} on ${host.name} answered ${status}: ${body}\n${context()}`);
  return parseMetrics(body);
}

export interface MemoryFigures {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly externalBytes: number;
}

export function memoryOf(samples: MetricSamples): MemoryFigures {
  return {
    rssBytes: samples.value('shoal_process_resident_memory_bytes'),
    heapUsedBytes: samples.value('shoal_nodejs_heap_size_used_bytes'),
    heapTotalBytes: samples.value('shoal_nodejs_heap_size_total_bytes'),
    externalBytes: samples.value('shoal_nodejs_external_memory_bytes'),
  };
}
