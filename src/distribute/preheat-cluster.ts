// A cluster preheat: this host checks the images exist, then pulls them itself and asks every
// member of the swarm to pull them too (the preheat protocol), and keeps each node's progress for
// the admin API, `shoal prefetch --all-nodes` and the status page. A node that leaves or goes
// silent is reported lost, never waited for. Hosts asked by another keep a record of their own
// share, so their status page shows it too.
import { randomUUID } from 'node:crypto';
import { formatPreheatImage, heldPieces, type ImageProgress, type PieceSet, type PreheatRequest } from '../swarm/index.ts';
import type { LocalPreheat, ResolvedBlob } from './preheat-local.ts';

/** Finished jobs kept for the API and the status page. */
const KEPT_JOBS = 10;
const RATE_WINDOW_MS = 5_000;

export type NodeState = 'running' | 'done' | 'failed' | 'lost';

export interface NodeProgress {
  readonly peerId: string;
  /** This host. */
  readonly self: boolean;
  /** The node's data-plane URL, when it said hello with one (its address, for people). */
  readonly url?: string;
  readonly state: NodeState;
  readonly images: readonly ImageProgress[];
  /** Bytes of the images the node holds now, and of all of them. */
  readonly done: number;
  readonly total: number;
  readonly bytesPerSecond: number;
  /** Why the node failed or was lost, and what to do about it. */
  readonly error?: string;
  readonly finishedAt?: number;
}

/** What a member holds of a job's blobs, as its announcements tell this host (complete blobs and pieces). */
export interface NodeHolding {
  readonly peerId: string;
  readonly url?: string;
  readonly held: number;
  readonly total: number;
}

export interface PreheatJob {
  readonly id: string;
  readonly images: readonly string[];
  readonly startedAt: number;
  /** Set once every node finished, failed or was lost. */
  readonly finishedAt?: number;
  /** The peer that asked this host; absent when asked here (then `nodes` is the whole cluster). */
  readonly askedBy?: string;
  readonly nodes: readonly NodeProgress[];
  /** Every member this host knows and what it holds of the images' blobs, reported or not (the cluster view on any node). */
  readonly holdings: readonly NodeHolding[];
}

/** The members to ask and how; the libp2p swarm and its preheat protocol in the daemon. */
export interface PreheatMembers {
  readonly selfId: string;
  peers(): ReadonlyArray<{ readonly peerId: string; readonly url: string | undefined }>;
  ask(peerId: string, request: PreheatRequest, onReport: (images: readonly ImageProgress[]) => void): Promise<readonly ImageProgress[]>;
  holders(digest: string): ReadonlyArray<{ readonly peerId: string; readonly size: number; readonly complete: boolean; readonly pieces?: PieceSet }>;
}

/** What the admin API and the status page use. */
export interface PreheatApi {
  /** Checks the images here (an unknown one throws, before any node is asked), then starts. */
  start(request: PreheatRequest): Promise<PreheatJob>;
  job(id: string): PreheatJob | undefined;
  /** Newest first. */
  jobs(): PreheatJob[];
}

class NodeRun {
  readonly peerId: string;
  readonly self: boolean;
  readonly url: string | undefined;
  state: NodeState = 'running';
  images: readonly ImageProgress[];
  error: string | undefined;
  finishedAt: number | undefined;
  readonly #samples: Array<{ at: number; bytes: number }> = [];

  constructor(peerId: string, self: boolean, url: string | undefined, images: readonly string[]) {
    this.peerId = peerId;
    this.self = self;
    this.url = url;
    this.images = images.map((image) => ({ image, state: 'waiting', done: 0, total: 0, blobs: 0 }));
  }

  update(images: readonly ImageProgress[]): void {
    this.images = images;
    const now = Date.now();
    this.#samples.push({ at: now, bytes: sum(images, 'done') });
    while (this.#samples.length > 2 && this.#samples[1]!.at <= now - RATE_WINDOW_MS) this.#samples.shift();
  }

  finish(images: readonly ImageProgress[] | undefined, failure: { state: 'failed' | 'lost'; error: string } | undefined): void {
    if (images) this.update(images);
    const failed = this.images.filter((image) => image.state === 'failed');
    if (failure) Object.assign(this, failure);
    else if (failed.length > 0) Object.assign(this, { state: 'failed', error: failed.map((image) => image.error ?? `${image.image}: failed`).join('; ') });
    else this.state = 'done';
    this.finishedAt = Date.now();
  }

  view(): NodeProgress {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    const span = first && last ? last.at - first.at : 0;
    const rate = this.state === 'running' && first && last && span >= 200 ? ((last.bytes - first.bytes) * 1000) / span : 0;
    return {
      peerId: this.peerId, self: this.self, ...(this.url ? { url: this.url } : {}), state: this.state, images: this.images,
      done: sum(this.images, 'done'), total: sum(this.images, 'total'), bytesPerSecond: Math.max(0, Math.round(rate)),
      ...(this.error !== undefined ? { error: this.error } : {}), ...(this.finishedAt !== undefined ? { finishedAt: this.finishedAt } : {}),
    };
  }
}

function sum(images: readonly ImageProgress[], key: 'done' | 'total'): number {
  return images.reduce((total, image) => total + image[key], 0);
}

class Job {
  readonly id = randomUUID();
  readonly images: readonly string[];
  readonly startedAt = Date.now();
  readonly askedBy: string | undefined;
  readonly nodes: NodeRun[] = [];
  /** The images' blobs, as this host resolved them. */
  readonly blobs = new Map<string, number>();
  finishedAt: number | undefined;

  constructor(request: PreheatRequest, askedBy: string | undefined) {
    this.images = request.images.map(formatPreheatImage);
    this.askedBy = askedBy;
  }

  /** Runs one node's share; settles its record whatever happens. */
  track(node: NodeRun, run: Promise<readonly ImageProgress[]>, lost: (error: Error) => string): void {
    this.nodes.push(node);
    run.then(
      (images) => node.finish(images, undefined),
      (error: unknown) => node.finish(undefined, { state: 'lost', error: lost(error as Error) }),
    ).finally(() => {
      if (this.nodes.every((n) => n.state !== 'running')) this.finishedAt = Date.now();
    });
  }

  remember(blobs: readonly ResolvedBlob[]): void {
    for (const blob of blobs) this.blobs.set(blob.digest, blob.size);
  }

  view(members: PreheatMembers | undefined): PreheatJob {
    return {
      id: this.id, images: this.images, startedAt: this.startedAt,
      ...(this.finishedAt !== undefined ? { finishedAt: this.finishedAt } : {}),
      ...(this.askedBy !== undefined ? { askedBy: this.askedBy } : {}),
      nodes: this.nodes.map((node) => node.view()),
      holdings: members ? holdings(members, this.blobs) : [],
    };
  }
}

export class ClusterPreheat implements PreheatApi {
  readonly #local: LocalPreheat;
  readonly #members: PreheatMembers | undefined;
  readonly #jobs: Job[] = [];

  /** `members` absent: a node without a swarm preheats itself alone. */
  constructor(local: LocalPreheat, members?: PreheatMembers) {
    this.#local = local;
    this.#members = members;
  }

  async start(request: PreheatRequest): Promise<PreheatJob> {
    for (const image of request.images) await this.#local.resolve(image, request.platform);
    const job = this.#add(new Job(request, undefined));
    const members = this.#members;
    const self = new NodeRun(members?.selfId ?? 'self', true, undefined, job.images);
    job.track(self, this.#local.run(request, (images) => self.update(images), new AbortController().signal, (blobs) => job.remember(blobs)), (error) => error.message);
    for (const peer of members?.peers() ?? []) {
      const node = new NodeRun(peer.peerId, false, peer.url, job.images);
      job.track(node, members!.ask(peer.peerId, request, (images) => node.update(images)), (error) => lostMessage(error));
    }
    return job.view(members);
  }

  /** The worker side: a member asked this host (the preheat protocol's runner). */
  serve(request: PreheatRequest, report: (images: readonly ImageProgress[]) => void, signal: AbortSignal, asker: string): Promise<readonly ImageProgress[]> {
    const job = this.#add(new Job(request, asker));
    const self = new NodeRun(this.#members?.selfId ?? 'self', true, undefined, job.images);
    const run = this.#local.run(request, (images) => {
      self.update(images);
      report(images);
    }, signal, (blobs) => job.remember(blobs));
    job.track(self, run, (error) => error.message);
    return run;
  }

  job(id: string): PreheatJob | undefined {
    return this.#jobs.find((job) => job.id === id)?.view(this.#members);
  }

  jobs(): PreheatJob[] {
    return this.#jobs.map((job) => job.view(this.#members)).reverse();
  }

  #add(job: Job): Job {
    this.#jobs.push(job);
    // Running jobs are never dropped: only the oldest finished ones beyond the limit.
    while (this.#jobs.length > KEPT_JOBS) {
      const old = this.#jobs.findIndex((j) => j.finishedAt !== undefined);
      if (old < 0) break;
      this.#jobs.splice(old, 1);
    }
    return job;
  }
}

/** Bytes of `blobs` each member holds: whole blobs, and the pieces of those it is still fetching. */
function holdings(members: PreheatMembers, blobs: ReadonlyMap<string, number>): NodeHolding[] {
  const held = new Map<string, number>();
  for (const [digest, size] of blobs) {
    for (const holder of members.holders(digest)) {
      const bytes = holder.complete ? size : holder.pieces ? Math.min(size, heldPieces(holder.pieces, size).length * holder.pieces.pieceSize) : 0;
      held.set(holder.peerId, (held.get(holder.peerId) ?? 0) + bytes);
    }
  }
  const total = [...blobs.values()].reduce((sum, size) => sum + size, 0);
  return members.peers().map((peer) => ({ peerId: peer.peerId, ...(peer.url ? { url: peer.url } : {}), held: held.get(peer.peerId) ?? 0, total }));
}

function lostMessage(error: Error): string {
  const refused = error.name === 'PreheatProtocolError';
  return refused
    ? `the node ${error.message}; check that it runs this shoal version with the same cluster key`
    : `lost the node (${error.message}): check that shoal runs there (shoal status on that host), then preheat again; blobs it already holds are kept`;
}
