// The digest of a blob being written, computed off the main thread. sha256 at ~1.3 GB/s on one
// core was the largest single cost of a cold pull on the event loop (bench/registry.bench.ts:
// ~40% of its busy time), and every other byte-moving job waited behind it. The worker reads the
// bytes back from the file (the page cache): 0.16 CPU-s per GiB, off the main thread. Handing
// them over in shared memory instead cost more: a fresh SharedArrayBuffer per 512 KiB batch
// (one that is never reused, so nobody needs to know when the worker is done with it) page-faults
// ~0.27 CPU-s per GiB of system time (measured, 512 MiB in 512 KiB batches).
import { Worker } from 'node:worker_threads';
import type { Digest, DigestAlgorithm } from '../oci/index.ts';

export type HashRequest =
  | { readonly op: 'open'; readonly job: number; readonly path: string; readonly algorithm: DigestAlgorithm }
  | { readonly op: 'hash'; readonly job: number; readonly end: number }
  | { readonly op: 'reset'; readonly job: number }
  | { readonly op: 'digest'; readonly job: number; readonly ticket: number }
  | { readonly op: 'close'; readonly job: number };

export type HashReply =
  | { readonly job: number; readonly ticket: number; readonly hashed: number; readonly hex: string }
  | { readonly job: number; readonly ticket: number; readonly error: string };

/**
 * The worker is told of new bytes once this many have gathered (or the blob is whole): a message
 * per 512 KiB write cost the event loop ~0.1 ms each, a fifth of what the hashing saved.
 */
const HASH_STEP_BYTES = 8 * 1024 * 1024;
/** An idle worker is stopped after this long (it holds ~5 MiB of RSS). */
const IDLE_STOP_MS = 10_000;

interface Waiter {
  resolve(reply: HashReply): void;
  reject(error: Error): void;
}

/**
 * One worker thread shared by every blob of the process, started on first use. It never keeps
 * the process alive by itself (unref'd, except while a digest is awaited), is stopped when idle,
 * and when it dies every job on it fails (their hash state died with it); the next job starts a
 * fresh one.
 */
class HashWorker {
  #worker: Worker | undefined;
  readonly #jobs = new Map<number, (error: Error) => void>();
  readonly #waiters = new Map<number, Waiter>();
  #nextJob = 1;
  #nextTicket = 1;
  #idleTimer: NodeJS.Timeout | undefined;

  open(path: string, algorithm: DigestAlgorithm, broken: (error: Error) => void): number {
    const job = this.#nextJob++;
    this.#jobs.set(job, broken);
    clearTimeout(this.#idleTimer);
    this.#post({ op: 'open', job, path, algorithm });
    return job;
  }

  post(request: Exclude<HashRequest, { op: 'open' | 'digest' | 'close' }>): void {
    if (this.#jobs.has(request.job)) this.#post(request);
  }

  digest(job: number): Promise<HashReply> {
    if (!this.#jobs.has(job)) return Promise.reject(new Error('the hash worker stopped'));
    const ticket = this.#nextTicket++;
    const reply = new Promise<HashReply>((resolve, reject) => this.#waiters.set(ticket, { resolve, reject }));
    this.#post({ op: 'digest', job, ticket });
    this.#worker?.ref();
    return reply;
  }

  close(job: number): void {
    if (!this.#jobs.delete(job)) return;
    this.#post({ op: 'close', job });
    if (this.#jobs.size === 0) {
      this.#idleTimer = setTimeout(() => void this.stop(), IDLE_STOP_MS);
      this.#idleTimer.unref();
    }
  }

  /** Stops the worker; jobs on it fail. */
  async stop(): Promise<void> {
    clearTimeout(this.#idleTimer);
    const worker = this.#worker;
    if (!worker) return;
    this.#died(worker, new Error('the hash worker was stopped'));
    await worker.terminate();
  }

  get running(): boolean {
    return this.#worker !== undefined;
  }

  #post(request: HashRequest): void {
    this.#start().postMessage(request);
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./prefix-hash-worker.js', import.meta.url));
    worker.on('message', (reply: HashReply) => {
      const waiter = this.#waiters.get(reply.ticket);
      this.#waiters.delete(reply.ticket);
      if (this.#waiters.size === 0) worker.unref();
      waiter?.resolve(reply);
    });
    worker.on('error', (error) => this.#died(worker, error));
    worker.on('exit', (code) => this.#died(worker, new Error(`the hash worker exited with code ${code}`)));
    // After the listeners: adding one refs the worker again.
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #died(worker: Worker, error: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    const failure = new Error(`hashing stopped: ${error.message}`, { cause: error });
    const jobs = [...this.#jobs.values()];
    const waiters = [...this.#waiters.values()];
    this.#jobs.clear();
    this.#waiters.clear();
    for (const broken of jobs) broken(failure);
    for (const waiter of waiters) waiter.reject(failure);
  }
}

const shared = new HashWorker();

/** Stops the shared hash worker (tests; the daemon's exit needs nothing: the worker is unref'd). */
export function stopHashWorker(): Promise<void> {
  return shared.stop();
}

export function hashWorkerRunning(): boolean {
  return shared.running;
}

/**
 * The hash of a file's contiguous prefix as it grows. `contiguousFrom(p)` says how far the bytes
 * from `p` are present in the file without a gap; `advance()` is called whenever that may have
 * grown, `reset(start)` when bytes from `start` on were forgotten (they are rehashed from 0 once
 * back), `digest()` once every byte is present.
 */
export class PrefixHasher {
  readonly #algorithm: DigestAlgorithm;
  readonly #size: number;
  readonly #contiguousFrom: (position: number) => number;
  readonly #job: number;
  /** End of the bytes handed to the worker in this generation. */
  #sent = 0;
  #generation = 0;
  #broken: Error | undefined;

  constructor(path: string, algorithm: DigestAlgorithm, size: number, contiguousFrom: (position: number) => number) {
    this.#algorithm = algorithm;
    this.#size = size;
    this.#contiguousFrom = contiguousFrom;
    this.#job = shared.open(path, algorithm, (error) => {
      this.#broken = error;
    });
  }

  advance(): void {
    if (this.#broken) return;
    const end = this.#contiguousFrom(this.#sent);
    if (end - this.#sent >= HASH_STEP_BYTES || end === this.#size) this.#post(end);
  }

  #flush(): void {
    this.#post(this.#contiguousFrom(this.#sent));
  }

  #post(end: number): void {
    if (end <= this.#sent) return;
    this.#sent = end;
    shared.post({ op: 'hash', job: this.#job, end });
  }

  /** Bytes from `start` on changed: a hash that covered (or was asked to cover) them starts over. */
  reset(start: number): void {
    if (this.#sent <= start) return;
    this.#sent = 0;
    this.#generation += 1;
    shared.post({ op: 'reset', job: this.#job });
  }

  /** The digest of all `size` bytes; throws when they are not all present or the worker died. */
  async digest(): Promise<Digest> {
    for (;;) {
      if (this.#broken) throw this.#broken;
      this.#flush();
      if (this.#sent < this.#size) throw new Error(`hash stalled at byte ${this.#sent} of ${this.#size}: bytes are missing`);
      const generation = this.#generation;
      const reply = await shared.digest(this.#job);
      if ('error' in reply) throw new Error(`cannot hash the temp file: ${reply.error}`);
      // A reset while the worker was answering: the answer is for bytes since forgotten.
      if (generation !== this.#generation) continue;
      if (reply.hashed !== this.#size) throw new Error(`hashed ${reply.hashed} of ${this.#size} bytes`);
      return { algorithm: this.#algorithm, hex: reply.hex, value: `${this.#algorithm}:${reply.hex}` };
    }
  }

  close(): void {
    shared.close(this.#job);
  }
}
