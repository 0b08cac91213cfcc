// `shoal prefetch --all-nodes IMAGE...` (also `shoal preheat`): the local daemon checks the images,
// pulls them and asks every member of the swarm to pull them too; this command starts that
// (POST /_shoal/preheat) and follows it (GET /_shoal/preheat/<id>) until every node is done,
// failed or lost. Exit code 0 only when every node holds every image.
import type { HostPort } from '../config/parse.ts';
import type { PreheatJob } from '../distribute/preheat-cluster.ts';
import { formatBytes } from '../lib/bytes.ts';
import { daemonBaseUrl, daemonFetch, DaemonUnreachableError, registryError } from './daemon-client.ts';
import { parseImageArgs, parseJobs, plural } from './prefetch.ts';
import { nodeLabel, PreheatDisplay } from './preheat-display.ts';
import { formatElapsed } from './progress.ts';
import type { ClientIo } from './terminal.ts';

const POLL_MS = 500;
/** Daemon polls that may fail in a row (a busy daemon) before the command gives up. */
const MAX_POLL_FAILURES = 10;

export interface PreheatOptions {
  readonly platform?: string;
  /** Blobs each node fetches at once (`--jobs`). */
  readonly jobs?: string;
}

export async function preheat(images: readonly string[], options: PreheatOptions, listen: HostPort, io: ClientIo): Promise<number> {
  const baseUrl = daemonBaseUrl(listen);
  const { refs, platform } = parseImageArgs(images, options.platform, listen);
  const jobs = options.jobs === undefined ? {} : { jobs: parseJobs(options.jobs) };
  const body = JSON.stringify({ images: refs.map((ref) => ({ name: ref.name, reference: ref.reference })), ...(platform ? { platform } : {}), ...jobs });
  let job: PreheatJob;
  try {
    // The daemon resolves every image before it answers: a slow seed takes a while.
    const response = await daemonFetch(baseUrl, '/_shoal/preheat', { method: 'POST', headers: { 'content-type': 'application/json' }, body }, 120_000);
    if (response.status === 404 && !(await isShoalPreheat(response.clone()))) {
      io.stderr(`shoal: the daemon at ${baseUrl} has no cluster preheat (an older shoal): upgrade it, or run shoal prefetch on each node\n`);
      return 1;
    }
    if (response.status !== 202) throw await registryError(response, 'starting the preheat');
    job = (await response.json()) as PreheatJob;
  } catch (error) {
    io.stderr(`shoal: ${(error as Error).message}${error instanceof DaemonUnreachableError ? '' : '\nnothing was asked of the other nodes'}\n`);
    return 1;
  }

  const display = new PreheatDisplay(io, job);
  let failures = 0;
  while (job.finishedAt === undefined) {
    display.show(job);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      const response = await daemonFetch(baseUrl, `/_shoal/preheat/${job.id}`, {}, 10_000);
      if (!response.ok) throw await registryError(response, 'following the preheat');
      job = (await response.json()) as PreheatJob;
      failures = 0;
    } catch (error) {
      if (++failures < MAX_POLL_FAILURES && !(error instanceof DaemonUnreachableError)) continue;
      io.stderr(`shoal: lost the local daemon while following the preheat (${(error as Error).message}); the nodes go on pulling: see the status page (/_shoal/) for how far they got\n`);
      return 1;
    }
  }
  display.show(job);
  display.finish(job);
  const failed = job.nodes.filter((node) => node.state !== 'done');
  const total = Math.max(0, ...job.nodes.map((node) => node.total));
  const nodesText = failed.length === 0 ? plural(job.nodes.length, 'node') : `${job.nodes.length - failed.length} of ${plural(job.nodes.length, 'node')}`;
  const failedText = failed.length === 0 ? '' : `; failed: ${failed.map(nodeLabel).join(', ')}`;
  io.stdout(`preheated ${plural(job.images.length, 'image')} on ${nodesText}, ${formatBytes(total)} each, in ${formatElapsed(job.finishedAt - job.startedAt)}${failedText}\n`);
  return failed.length === 0 ? 0 : 1;
}

/** A 404 from the preheat route itself (its error body), not from a daemon without the route. */
async function isShoalPreheat(response: Response): Promise<boolean> {
  const text = await response.text().catch(() => '');
  return text.includes('MANIFEST_UNKNOWN') || text.includes('not found');
}
