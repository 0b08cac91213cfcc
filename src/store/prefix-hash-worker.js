// The thread behind prefix-hasher.ts: hashes byte ranges of blob temp files, reading them back
// from the file (the page cache, as they were just written) so the main thread never hashes and
// never copies a byte for it. Messages of one job are handled in order and synchronously: a
// reset that arrives after a range was asked for applies after that range, never in its middle.
// Plain JavaScript on purpose: a .ts entry loads the type stripper into the worker's own isolate,
// ~10 MiB of RSS more (measured: 15 MiB for the thread instead of 5). The messages are typed as
// HashRequest / HashReply in prefix-hasher.ts.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

const READ_BYTES = 1024 * 1024;

/** job id → { fd, algorithm, hash, position, error } */
const jobs = new Map();
const buffer = Buffer.allocUnsafe(READ_BYTES);

function hashUpTo(job, end) {
  while (job.position < end) {
    const bytesRead = readSync(job.fd, buffer, 0, Math.min(READ_BYTES, end - job.position), job.position);
    if (bytesRead === 0) throw new Error(`the temp file ended at byte ${job.position}, before ${end}`);
    job.hash.update(buffer.subarray(0, bytesRead));
    job.position += bytesRead;
  }
}

function openJob(message) {
  const job = { fd: -1, algorithm: message.algorithm, hash: createHash(message.algorithm), position: 0, error: undefined };
  try {
    job.fd = openSync(message.path, 'r');
  } catch (error) {
    job.error = error.message;
  }
  jobs.set(message.job, job);
}

function handle(message) {
  if (message.op === 'open') return openJob(message);
  const job = jobs.get(message.job);
  if (!job) return message.op === 'digest' ? { job: message.job, ticket: message.ticket, error: 'unknown hash job' } : undefined;
  switch (message.op) {
    case 'hash':
      if (job.error !== undefined) return undefined;
      try {
        hashUpTo(job, message.end);
      } catch (error) {
        job.error = error.message;
      }
      return undefined;
    case 'reset':
      job.hash = createHash(job.algorithm);
      job.position = 0;
      // A read that failed on bytes since forgotten (the file cut back) says nothing about the
      // bytes written again; a file that never opened stays broken.
      if (job.fd >= 0) job.error = undefined;
      return undefined;
    case 'digest':
      if (job.error !== undefined) return { job: message.job, ticket: message.ticket, error: job.error };
      return { job: message.job, ticket: message.ticket, hashed: job.position, hex: job.hash.copy().digest('hex') };
    case 'close':
      jobs.delete(message.job);
      if (job.fd >= 0) closeSync(job.fd);
      return undefined;
    default:
      return undefined;
  }
}

// Loaded outside a worker (deploy/check-imports.mjs imports every module): nothing to listen to.
const port = parentPort;
port?.on('message', (message) => {
  const reply = handle(message);
  if (reply) port.postMessage(reply);
});
