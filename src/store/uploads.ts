import { randomUUID, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { OciError, createDigester, digestFromHash, uploadRangeHeader, type Digest } from '../oci/index.ts';
import type { Layout } from './layout.ts';
import { commitFile } from '../lib/durable-rename.ts';
import { isNotFound, readTextIfExists, writeFileAtomic } from './files.ts';

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface UploadStatus {
  readonly id: string;
  readonly repository: string;
  /** bytes received so far */
  readonly size: number;
  readonly startedAt: Date;
}

export interface ChunkOptions {
  /** The chunk's Content-Range, when the client sent one. */
  readonly start?: number;
  readonly end?: number;
  /** The request's Content-Length, when it sent a valid one. */
  readonly length?: number;
  readonly maxBytes?: number;
}

interface Session {
  hash: Hash;
  size: number;
  /** serialises PATCH/PUT on one upload */
  busy: Promise<unknown>;
}

/**
 * Upload sessions in registry:2's place (`repositories/<name>/_uploads/<id>/data`). The running
 * sha256 is kept in memory; after a restart it is recomputed from the data file on first use,
 * so an upload interrupted by a crash resumes from the bytes that reached the disk.
 */
export class UploadStore {
  readonly #layout: Layout;
  readonly #sessions = new Map<string, Session>();

  readonly #onCommitted: (digest: Digest, size: number) => void;

  constructor(layout: Layout, onCommitted: (digest: Digest, size: number) => void = () => undefined) {
    this.#layout = layout;
    this.#onCommitted = onCommitted;
  }

  async create(repository: string): Promise<UploadStatus> {
    const id = randomUUID();
    const startedAt = new Date();
    try {
      await mkdir(this.#layout.uploadDir(repository, id), { recursive: true });
      await writeFileAtomic(this.#layout.uploadStartedAt(repository, id), startedAt.toISOString(), this.#layout.tmp);
      await (await open(this.#layout.uploadData(repository, id), 'w')).close();
    } catch (error) {
      // A full disk halfway through: no session directory the client never heard of.
      await rm(this.#layout.uploadDir(repository, id), { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
    this.#sessions.set(this.#key(repository, id), { hash: createDigester('sha256'), size: 0, busy: Promise.resolve() });
    return { id, repository, size: 0, startedAt };
  }

  async status(repository: string, id: string): Promise<UploadStatus> {
    const session = await this.#session(repository, id);
    const startedAt = new Date((await readTextIfExists(this.#layout.uploadStartedAt(repository, id)))?.trim() ?? 0);
    return { id, repository, size: session.size, startedAt };
  }

  /**
   * Appends a chunk. `start`, when the client sent Content-Range, must equal the bytes received
   * so far (out-of-order → 416 with the current Range), and the chunk must be as long as the range
   * says (`length`, the Content-Length, is checked before a byte is read): a chunk so refused
   * leaves nothing written, as a client resending from its own offset after a 4xx expects. Bytes
   * beyond `maxBytes` are refused.
   */
  async append(repository: string, id: string, body: AsyncIterable<Uint8Array>, options: ChunkOptions = {}): Promise<UploadStatus> {
    const session = await this.#session(repository, id);
    return this.#exclusive(repository, id, session, async () => {
      const refused = (message: string): OciError => new OciError('BLOB_UPLOAD_INVALID', message, undefined, { status: 416, headers: { range: uploadRangeHeader(session.size) } });
      if (options.start !== undefined && options.start !== session.size) {
        throw refused(`chunk starts at byte ${options.start} but ${session.size} bytes were received: send chunks in order`);
      }
      const declared = options.end !== undefined && options.start !== undefined ? options.end - options.start + 1 : undefined;
      if (declared !== undefined && options.length !== undefined && options.length !== declared) {
        throw refused(`chunk has ${options.length} bytes (Content-Length) but its Content-Range declares ${declared}`);
      }
      const limit = options.maxBytes ?? Number.POSITIVE_INFINITY;
      // A chunk with a Content-Range is all or nothing: on any failure the upload goes back to here.
      const before = declared !== undefined ? { size: session.size, hash: session.hash.copy() } : undefined;
      const handle = await open(this.#layout.uploadData(repository, id), 'r+');
      let received = 0;
      try {
        for await (const chunk of body) {
          if (declared !== undefined && received + chunk.byteLength > declared) throw refused(`chunk is larger than its Content-Range (${declared} bytes)`);
          if (session.size + chunk.byteLength > limit) {
            throw new OciError('SIZE_INVALID', `upload exceeds the ${limit}-byte limit (max-upload-size)`);
          }
          let offset = 0;
          while (offset < chunk.byteLength) {
            const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset, session.size + offset);
            offset += bytesWritten;
          }
          session.hash.update(chunk);
          session.size += chunk.byteLength;
          received += chunk.byteLength;
        }
        if (declared !== undefined && received !== declared) {
          if (before) Object.assign(session, before); // first: the 416's Range says where the upload stands
          throw refused(`chunk has ${received} bytes but its Content-Range declares ${declared}`);
        }
      } catch (error) {
        // Part of a chunk may have reached the file before the failure (a full disk mid-write):
        // cut the file back to the bytes counted (for a ranged chunk, to where it started), so the
        // data always matches size and hash and a retried chunk continues cleanly.
        if (before) Object.assign(session, before);
        await handle.truncate(session.size).catch(() => undefined);
        throw error;
      } finally {
        await handle.close();
      }
      return this.status(repository, id);
    });
  }

  /**
   * Appends the optional final chunk, verifies the digest and moves the data into the blob store.
   * On a digest mismatch the upload is cancelled (the client must start again, as registry:2 does).
   */
  async finish(repository: string, id: string, expected: Digest, body?: AsyncIterable<Uint8Array>, options: ChunkOptions = {}): Promise<{ digest: Digest; size: number }> {
    // A last chunk out of order is refused like any other (416, the upload kept), not appended.
    if (body) await this.append(repository, id, body, options);
    const session = await this.#session(repository, id);
    return this.#exclusive(repository, id, session, async () => {
      const actual = digestFromHash('sha256', session.hash.copy());
      if (expected.algorithm !== 'sha256' ? !(await this.#matchesOtherAlgorithm(repository, id, expected)) : actual.value !== expected.value) {
        await this.cancel(repository, id);
        throw new OciError('DIGEST_INVALID', `uploaded content has digest ${actual.value}, not ${expected.value}`, { expected: expected.value, actual: actual.value });
      }
      const data = this.#layout.uploadData(repository, id);
      await commitFile(await open(data, 'r+'), data, this.#layout.blobData(expected));
      await this.cancel(repository, id);
      this.#onCommitted(expected, session.size);
      return { digest: expected, size: session.size };
    });
  }

  async cancel(repository: string, id: string): Promise<void> {
    this.#sessions.delete(this.#key(repository, id));
    await rm(this.#layout.uploadDir(repository, id), { recursive: true, force: true });
  }

  /** Removes uploads started before `olderThan`; returns how many. */
  async purge(repositories: readonly string[], olderThan: Date): Promise<number> {
    let purged = 0;
    for (const repository of repositories) {
      let ids: string[];
      try {
        ids = await readdir(this.#layout.uploadsDir(repository));
      } catch (error) {
        if (isNotFound(error)) continue;
        throw error;
      }
      for (const id of ids) {
        const started = await stat(this.#layout.uploadDir(repository, id)).then((s) => s.mtime, () => new Date(0));
        const text = await readTextIfExists(this.#layout.uploadStartedAt(repository, id));
        const when = text ? new Date(text.trim()) : started;
        if (!(when.getTime() >= olderThan.getTime())) {
          await this.cancel(repository, id);
          purged += 1;
        }
      }
    }
    return purged;
  }

  async #session(repository: string, id: string): Promise<Session> {
    if (!UPLOAD_ID.test(id)) throw unknownUpload(id);
    const key = this.#key(repository, id);
    const existing = this.#sessions.get(key);
    if (existing) return existing;
    // Not in memory: an upload from before a restart. Rebuild its hash from the bytes on disk.
    const data = this.#layout.uploadData(repository, id);
    const hash = createDigester('sha256');
    let size = 0;
    try {
      for await (const chunk of createReadStream(data)) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).byteLength;
      }
    } catch (error) {
      if (isNotFound(error)) throw unknownUpload(id);
      throw error;
    }
    const raced = this.#sessions.get(key);
    if (raced) return raced;
    const session: Session = { hash, size, busy: Promise.resolve() };
    this.#sessions.set(key, session);
    return session;
  }

  async #matchesOtherAlgorithm(repository: string, id: string, expected: Digest): Promise<boolean> {
    const hash = createDigester(expected.algorithm);
    for await (const chunk of createReadStream(this.#layout.uploadData(repository, id))) hash.update(chunk as Buffer);
    return digestFromHash(expected.algorithm, hash).value === expected.value;
  }

  /**
   * Runs `work` after whatever else is running on the upload. By then the upload may have been
   * finished or cancelled by the request ahead (a retried PUT, a DELETE): that is an unknown
   * upload, not a rename of a file that is gone.
   */
  #exclusive<T>(repository: string, id: string, session: Session, work: () => Promise<T>): Promise<T> {
    const guarded = async (): Promise<T> => {
      if (this.#sessions.get(this.#key(repository, id)) !== session) throw unknownUpload(id);
      return work();
    };
    const run = session.busy.then(guarded, guarded);
    session.busy = run.catch(() => undefined);
    return run;
  }

  #key(repository: string, id: string): string {
    return `${repository}\u0000${id}`;
  }
}


function unknownUpload(id: string): OciError {
  return new OciError('BLOB_UPLOAD_UNKNOWN', `upload ${JSON.stringify(id.slice(0, 80))} is unknown: it finished, was cancelled or expired; start a new upload with POST`);
}
