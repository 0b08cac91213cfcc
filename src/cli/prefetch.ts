// `shoal prefetch <image>...`: pulls images into the running local daemon (manifests, then every
// blob, bytes discarded) so the swarm holds them before the first `docker pull`. Images go one
// after another, so the daemon's seed/peer counters (GET /_shoal/status) can be split per image;
// the blobs of one image are fetched a few at a time.
import { Agent, request, type Dispatcher } from 'undici';
import { daemonAuthHeaders } from './daemon-auth.ts';
import { formatHostPort, type HostPort } from '../config/parse.ts';
import {
  DaemonUnreachableError, daemonBaseUrl, describeNetworkError, fetchStatus, type NodeStatus,
} from './daemon-client.ts';
import { formatImageRef, ImageRefError, parseImageRef, parsePlatform, upstreamNames, type ImageRef, type Platform } from './image-ref.ts';
import { errorBody, resolveImage, type Blob, type ResolvedImage } from './prefetch-resolve.ts';
import {
  formatElapsed, formatRate, formatSourceSplit, fitWidth, RateMeter, renderBar, renderPlainLine, renderProgressLine, type ProgressState,
} from './progress.ts';
import { ERASE_LINE, type ClientIo } from './terminal.ts';
import { formatBytes } from '../lib/bytes.ts';
import { inPool } from '../lib/pool.ts';
import { DEFAULT_PREHEAT_JOBS, MAX_PREHEAT_JOBS } from '../swarm/index.ts';

export interface PrefetchOptions {
  readonly platform?: string;
  readonly jobs?: string;
}

/** Redraw interval on a terminal, line interval in a pipe, status poll interval. */
const TTY_REDRAW_MS = 200;
const PLAIN_LINE_MS = 2000;
const STATUS_POLL_MS = 1000;
const BLOB_ATTEMPTS = 2;

/** A usage mistake (bad image name, bad option): main turns it into exit code 2. */
export class PrefetchUsageError extends Error {
  override name = 'PrefetchUsageError';
}

interface Transfers {
  readonly seed: number;
  readonly peers: number;
}

/** Resolves to the exit code: 0 when every image was prefetched, 1 otherwise. */
export async function prefetch(images: readonly string[], options: PrefetchOptions, listen: HostPort, io: ClientIo): Promise<number> {
  const baseUrl = daemonBaseUrl(listen);
  const jobs = parseJobs(options.jobs);
  const { refs, platform } = parseImageArgs(images, options.platform, listen);

  let status: NodeStatus;
  try {
    status = await fetchStatus(baseUrl);
  } catch (error) {
    io.stderr(`shoal: ${(error as Error).message}\n`);
    return 1;
  }

  const dispatcher = new Agent({ connections: jobs + 2, headersTimeout: 10 * 60_000, bodyTimeout: 10 * 60_000 });
  const started = Date.now();
  const startTransfers = transfersOf(status);
  let latest: Transfers | undefined = startTransfers;
  const fetched = new Set<string>();
  const failed: string[] = [];
  let succeeded = 0;
  let totalBytes = 0;
  const labelWidth = Math.min(40, Math.max(...refs.map((ref) => ref.input.length)));
  try {
    const upstreamUrls = status.upstreams.filter((upstream) => upstream.configured).map((upstream) => upstream.url);
    for (const ref of refs) {
      const label = ref.input.padEnd(labelWidth);
      // Say it when a registry is asked for another name than the one given (Docker Hub's library/).
      for (const asked of upstreamNames(ref, upstreamUrls).filter((n) => n.name !== formatImageRef(ref))) {
        io.stdout(`${label.trimEnd()}: asked of ${asked.registry} as ${asked.name}\n`);
      }
      try {
        const resolved = await resolveImage(ref, platform, baseUrl, dispatcher, fetched, status);
        const result = await fetchImage(resolved, label, baseUrl, dispatcher, jobs, io, latest);
        latest = result.transfers ?? latest;
        totalBytes += result.bytes;
        for (const blob of resolved.blobs) fetched.add(blob.digest);
        succeeded += 1;
      } catch (error) {
        if (error instanceof DaemonUnreachableError) {
          // The daemon went away: the images left cannot be done either.
          io.stderr(`shoal: ${error.message}\n`);
          failed.push(...refs.slice(refs.indexOf(ref)).map((r) => r.input));
          break;
        }
        // (fetchImage has cleared its progress line.)
        io.stdout(`${label.trimEnd()}: failed: ${(error as Error).message}\n`);
        failed.push(ref.input);
      }
    }
  } finally {
    await dispatcher.close().catch(() => {});
  }

  const end = await fetchStatus(baseUrl).then(transfersOf, () => latest);
  const elapsed = Date.now() - started;
  const split = end === undefined || startTransfers === undefined
    ? ''
    : ` (${formatSourceSplit(end.seed - startTransfers.seed, end.peers - startTransfers.peers, totalBytes)})`;
  const imagesText = failed.length === 0 ? plural(succeeded, 'image') : `${succeeded} of ${plural(refs.length, 'image')}`;
  const failedText = failed.length === 0 ? '' : `; failed: ${failed.join(', ')}`;
  io.stdout(`prefetched ${imagesText}, ${plural(fetched.size, 'blob')}, ${formatBytes(totalBytes)} in ${formatElapsed(elapsed)}${split}${failedText}\n`);
  return failed.length === 0 ? 0 : 1;
}

/** The image arguments and --platform, as both prefetch and preheat take them; mistakes are usage errors. */
export function parseImageArgs(images: readonly string[], platformText: string | undefined, listen: HostPort): { refs: ImageRef[]; platform: Platform | undefined } {
  try {
    const platform = platformText === undefined ? undefined : parsePlatform(platformText);
    const daemonHosts = daemonSpellings(listen);
    return { refs: images.map((image) => parseImageRef(image, daemonHosts)), platform };
  } catch (error) {
    if (error instanceof ImageRefError) throw new PrefetchUsageError(error.message);
    throw error;
  }
}

/** `--jobs`: blobs fetched at once, by this command or (with --all-nodes) by each node. */
export function parseJobs(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PREHEAT_JOBS;
  const jobs = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(jobs >= 1 && jobs <= MAX_PREHEAT_JOBS)) throw new PrefetchUsageError(`invalid --jobs "${text}": expected a number of parallel blob downloads from 1 to ${MAX_PREHEAT_JOBS}`);
  return jobs;
}

/** How an image name can spell the daemon itself: `localhost:5000`, `127.0.0.1:5000`, the listen address. */
function daemonSpellings(listen: HostPort): string[] {
  const port = listen.port;
  return [formatHostPort(listen), `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`];
}

function transfersOf(status: NodeStatus): Transfers | undefined {
  const t = status.transfers as NodeStatus['transfers'] | undefined;
  return t === undefined ? undefined : { seed: t.bytesFromSeed, peers: t.bytesFromPeers };
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

// ---- fetching: every blob, a few at a time, with progress ----

interface FetchResult {
  readonly bytes: number;
  readonly transfers: Transfers | undefined;
}

async function fetchImage(
  image: ResolvedImage, label: string, baseUrl: string, dispatcher: Dispatcher, jobs: number, io: ClientIo, before: Transfers | undefined,
): Promise<FetchResult> {
  const total = image.blobs.reduce((sum, blob) => sum + blob.size, 0);
  const started = Date.now();
  const meter = new RateMeter(io.isTTY ? 3000 : 5000);
  let done = 0;
  let latest = before;
  const progress = (): ProgressState => ({
    label: io.isTTY ? label : label.trimEnd(),
    done,
    total,
    bytesPerSecond: meter.rate(),
    ...(before !== undefined && latest !== undefined ? { fromSeed: latest.seed - before.seed, fromPeers: latest.peers - before.peers } : {}),
  });

  const platformText = image.platforms.length > 1
    ? ` for ${image.platforms.length} platforms (${image.platforms.join(', ')})`
    : image.platforms.length === 1 ? ` (${image.platforms[0]})` : '';
  const sharedText = image.shared > 0 ? `, ${plural(image.shared, 'blob')} shared with an image above` : '';
  if (image.blobs.length === 0) {
    // Everything came with earlier images of this run: nothing to fetch, one line.
    io.stdout(`${label.trimEnd()}: done, its ${plural(image.shared, 'blob')} came with an image above${platformText}\n`);
    return { bytes: 0, transfers: before };
  }
  const header = `${label.trimEnd()}: ${plural(image.blobs.length, 'blob')}, ${formatBytes(total)}${platformText}${sharedText}`;
  if (!io.isTTY) io.stdout(`${header}\n`);

  // Status polling: the daemon's seed/peer counters, for the source split.
  let polling: Promise<void> | undefined;
  const poll = (): void => {
    if (polling !== undefined || before === undefined) return;
    polling = fetchStatus(baseUrl, 5000).then((status) => {
      latest = transfersOf(status) ?? latest;
    }, () => {}).finally(() => {
      polling = undefined;
    });
  };
  const draw = (): void => {
    meter.sample(Date.now(), done);
    if (io.isTTY) io.stdout(`\r${renderProgressLine(progress(), io.columns())}${ERASE_LINE}`);
    else io.stdout(`${renderPlainLine(progress())}\n`);
  };
  meter.sample(started, 0);
  if (io.isTTY) draw();
  const timers = [
    setInterval(draw, io.isTTY ? TTY_REDRAW_MS : PLAIN_LINE_MS),
    setInterval(poll, STATUS_POLL_MS),
  ];
  try {
    await inPool(image.blobs, jobs, async (blob) => {
      for (let attempt = 1; ; attempt++) {
        let got = 0;
        try {
          await fetchBlob(image.ref, blob, baseUrl, dispatcher, (n) => {
            got += n;
            done += n;
          });
          return;
        } catch (error) {
          done -= got;
          if (attempt >= BLOB_ATTEMPTS || !retryable(error)) throw error;
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
    });
  } catch (error) {
    if (io.isTTY) io.stdout(`\r${ERASE_LINE}`);
    throw error;
  } finally {
    for (const timer of timers) clearInterval(timer);
    await polling;
  }
  const after = await fetchStatus(baseUrl, 5000).then(transfersOf, () => latest);
  latest = after ?? latest;
  const elapsed = Date.now() - started;
  const rate = elapsed > 0 ? (total * 1000) / elapsed : undefined;
  const split = before !== undefined && latest !== undefined ? ` (${formatSourceSplit(latest.seed - before.seed, latest.peers - before.peers, total)})` : '';
  const final = `${plural(image.blobs.length, 'blob')}, ${formatBytes(total)} in ${formatElapsed(elapsed)}, ${formatRate(rate)}${split}`;
  if (io.isTTY) io.stdout(`\r${fitWidth(`${label} ${renderBar(1, 10)} done  ${final}`, io.columns())}${ERASE_LINE}\n`);
  else io.stdout(`${label.trimEnd()}: done, ${final}\n`);
  return { bytes: total, transfers: latest };
}

class BlobError extends Error {
  readonly retry: boolean;
  constructor(message: string, retry: boolean) {
    super(message);
    this.retry = retry;
  }
}

function retryable(error: unknown): boolean {
  return error instanceof BlobError ? error.retry : !(error instanceof DaemonUnreachableError);
}

/** GETs one blob from the daemon and throws the bytes away, checking the count against the descriptor. */
async function fetchBlob(ref: ImageRef, blob: Blob, baseUrl: string, dispatcher: Dispatcher, onBytes: (n: number) => void): Promise<void> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(`${baseUrl}/v2/${ref.name}/blobs/${blob.digest}`, { dispatcher, headers: daemonAuthHeaders() });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND') throw new DaemonUnreachableError(baseUrl, error);
    throw new BlobError(`blob ${blob.digest}: ${describeNetworkError(error)}`, true);
  }
  if (response.statusCode !== 200) {
    const { message } = errorBody(await response.body.text().catch(() => ''));
    throw new BlobError(`blob ${blob.digest}: ${message ?? `the daemon answered ${response.statusCode}`}`, response.statusCode >= 500);
  }
  let received = 0;
  try {
    for await (const chunk of response.body) {
      received += (chunk as Buffer).byteLength;
      onBytes((chunk as Buffer).byteLength);
    }
  } catch (error) {
    throw new BlobError(`blob ${blob.digest}: the transfer broke off after ${formatBytes(received)} (${describeNetworkError(error)})`, true);
  }
  if (received !== blob.size) {
    throw new BlobError(`blob ${blob.digest}: got ${received} bytes, the manifest says ${blob.size}`, true);
  }
}
