// The seed: Debian's docker-registry on a host of the test LAN, serving a data dir filled on
// loopback beforehand (the root namespace cannot reach the LAN). Its access log (Apache combined
// format on stdout) says who got how many blob bytes: that is what counts as seed egress.
import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pushImage, type TestImage } from '../images.ts';
import type { TestHost } from '../netns.ts';
import { REGISTRY_BINARY, parseAccessLine, startSeedRegistry, writeRegistryConfig, type AccessLogLine } from '../seed-registry.ts';
import { REGISTRY_PORT, START_TIMEOUT_MS, sleep } from './constants.ts';
import { curlIn, terminate } from './host-client.ts';

const MARKER_PATH = '/v2/?shoal-log-marker=';

export interface SeedImage {
  readonly repo: string;
  readonly tag: string;
  readonly image: TestImage;
}

export interface LoggedSeedRequest extends AccessLogLine {
  /** Epoch ms when its access-log line was read (the registry writes it after the response). */
  readonly at: number;
}

export interface SeedFilter {
  /** Only requests from this address (or anything with an `address`, such as a node). */
  readonly from?: string | { readonly address: string };
  /** Only blob requests for these digests. */
  readonly digests?: readonly string[];
}

export interface ClusterSeed {
  readonly host: TestHost;
  readonly address: string;
  /** `http://<address>:5000` */
  readonly url: string;
  readonly dataDir: string;
  readonly running: boolean;
  /** The registry's pid (0 when stopped), for CPU sampling. */
  readonly pid: number;
  /** Makes sure every request answered so far is logged (when running); returns a position in the log. */
  mark(): Promise<number>;
  /** Requests logged between two marks (markers excluded). */
  between(from: number, to: number): LoggedSeedRequest[];
  /** Every request logged since the start or the last clearLog(), after making sure the log has caught up. */
  requests(): Promise<LoggedSeedRequest[]>;
  /** Successful (200/206) blob GETs. */
  blobGets(filter?: SeedFilter): Promise<LoggedSeedRequest[]>;
  /** Body bytes of successful blob GETs. */
  blobBytesServed(filter?: SeedFilter): Promise<number>;
  /** Forgets the requests logged so far. */
  clearLog(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Successful blob GETs (200/206) among `requests`, narrowed by `filter`: what counts as seed egress. */
export function selectBlobGets<R extends AccessLogLine>(requests: readonly R[], filter: SeedFilter = {}): R[] {
  const from = typeof filter.from === 'object' ? filter.from.address : filter.from;
  return requests.filter(
    (r) =>
      r.method === 'GET' &&
      (r.status === 200 || r.status === 206) &&
      r.digest !== undefined &&
      (from === undefined || r.remote === from) &&
      (filter.digests === undefined || filter.digests.includes(r.digest)),
  );
}

export const sumBytes = (requests: ReadonlyArray<{ readonly bytes: number }>): number => requests.reduce((sum, r) => sum + r.bytes, 0);

/** Pushes the images to a docker-registry on loopback serving `dataDir`, which then stops. */
export async function fillSeedData(dataDir: string, images: readonly SeedImage[]): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const loopback = await startSeedRegistry({ dataDir });
  try {
    for (const { repo, tag, image } of images) await pushImage(loopback.url, repo, tag, image);
  } finally {
    await loopback.stop();
  }
}

export interface SeedHostOptions {
  readonly dataDir: string;
  /** Where its config file goes. */
  readonly workDir: string;
  /** docker-registry's own log level; the access log is written at any level. */
  readonly logLevel?: 'error' | 'warn' | 'info';
}

/** Starts docker-registry on `host` serving `dataDir` at `<address>:5000`; resolves once /v2/ answers. */
export async function startSeedHost(host: TestHost, options: SeedHostOptions): Promise<ClusterSeed> {
  const url = `http://${host.address}:${REGISTRY_PORT}`;
  const configPath = join(options.workDir, 'seed-config.yml');
  await writeRegistryConfig(configPath, { dataDir: options.dataDir, addr: `${host.address}:${REGISTRY_PORT}`, logLevel: options.logLevel ?? 'info' });
  const logged: LoggedSeedRequest[] = [];
  let clearedAt = 0;
  let child: ChildProcess | undefined;
  let stderr = '';
  let markers = 0;

  const start = async (): Promise<void> => {
    if (child) return;
    stderr = '';
    const proc = host.spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.once('exit', () => {
      if (child === proc) child = undefined;
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const request = parseAccessLine(line);
      if (request) logged.push({ ...request, at: Date.now() });
    });
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-10_000)));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`seed docker-registry exited (${proc.exitCode ?? proc.signalCode}) while starting:\n${stderr}`);
      const { status } = await curlIn(host, `${url}/v2/`, { timeoutMs: 2_000 });
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`seed docker-registry did not answer ${url}/v2/ within ${START_TIMEOUT_MS} ms:\n${stderr}`);
      await sleep(100);
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    await terminate(proc);
    child = undefined;
  };

  /** A marker request whose log line shows that every earlier request is logged. */
  const mark = async (): Promise<number> => {
    if (!child) return logged.length; // stopped: its stdout has been read to the end
    const marker = `${MARKER_PATH}${++markers}`;
    await curlIn(host, `${url}${marker}`, { timeoutMs: 5_000 });
    const deadline = Date.now() + 5_000;
    while (!logged.some((r) => r.path === marker)) {
      if (Date.now() > deadline) throw new Error('the seed access log did not show the marker request');
      await sleep(10);
    }
    return logged.length;
  };
  const between = (from: number, to: number): LoggedSeedRequest[] => logged.slice(from, to).filter((r) => !r.path.startsWith(MARKER_PATH));
  const requests = async (): Promise<LoggedSeedRequest[]> => between(clearedAt, await mark());
  const blobGets = async (filter: SeedFilter = {}): Promise<LoggedSeedRequest[]> => selectBlobGets(await requests(), filter);

  await start();
  return {
    host,
    address: host.address,
    url,
    dataDir: options.dataDir,
    get running() {
      return child !== undefined;
    },
    get pid() {
      return child?.pid ?? 0;
    },
    mark,
    between,
    requests,
    blobGets,
    blobBytesServed: async (filter) => sumBytes(await blobGets(filter)),
    clearLog: () => void (clearedAt = logged.length),
    stop,
    start,
  };
}
