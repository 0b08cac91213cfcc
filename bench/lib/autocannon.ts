// autocannon 8's programmatic API, typed for the parts the benchmarks use (the package ships no types).
import { createRequire } from 'node:module';

export interface AutocannonOptions {
  readonly url: string;
  readonly connections?: number;
  /** seconds */
  readonly duration?: number;
  readonly pipelining?: number;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** seconds */
  readonly timeout?: number;
  readonly title?: string;
}

export interface Histogram {
  readonly average: number;
  readonly mean: number;
  readonly stddev: number;
  readonly min: number;
  readonly max: number;
  readonly total: number;
  readonly p50: number;
  readonly p90?: number;
  readonly p97_5: number;
  readonly p99: number;
}

export interface AutocannonResult {
  readonly title?: string;
  readonly url: string;
  readonly requests: Histogram;
  readonly latency: Histogram;
  readonly throughput: Histogram;
  readonly errors: number;
  readonly timeouts: number;
  readonly mismatches: number;
  readonly non2xx: number;
  readonly resets: number;
  /** seconds */
  readonly duration: number;
  readonly start: Date;
  readonly finish: Date;
  readonly connections: number;
  readonly pipelining: number;
  readonly '1xx': number;
  readonly '2xx': number;
  readonly '3xx': number;
  readonly '4xx': number;
  readonly '5xx': number;
}

type Autocannon = (options: AutocannonOptions) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export function runAutocannon(options: AutocannonOptions): Promise<AutocannonResult> {
  return autocannon(options);
}
