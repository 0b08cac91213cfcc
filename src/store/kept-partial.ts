// Blobs being fetched survive a crash: the bytes live in `shoal/partials/<hex>.data`, and a small
// sidecar `<hex>.pieces` lists the pieces that are complete. After a restart the
// fetch takes those pieces as present and asks its sources only for the rest; the sha256 is still
// computed over the whole file before the blob is committed, so a kept byte that went bad on disk
// fails verification like any other.
import { open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../oci/index.ts';
import type { Layout } from './layout.ts';

/** How often, at most, the list of complete pieces is saved while a blob arrives. */
export const PIECE_LIST_INTERVAL_MS = 250;
/** Kept partial blobs nobody asked for again within this long are removed at start-up. */
export const KEPT_PARTIAL_MAX_AGE_MS = 24 * 60 * 60 * 1000;
const SIDECAR_VERSION = 1;

interface Sidecar {
  readonly version: number;
  readonly digest: string;
  readonly size: number;
  readonly pieceSize: number;
  /** Indexes of complete pieces. */
  readonly complete: readonly number[];
}

export function partialsDir(layout: Layout): string {
  return join(layout.root, 'shoal', 'partials');
}

export interface KeptPaths {
  readonly data: string;
  readonly sidecar: string;
}

export function keptPaths(layout: Layout, digest: Digest): KeptPaths {
  const base = join(partialsDir(layout), `${digest.algorithm}-${digest.hex}`);
  return { data: `${base}.data`, sidecar: `${base}.pieces` };
}

/**
 * Opens the file of a blob to fetch: the kept one with its complete pieces when its sidecar
 * matches (same digest, size and piece size), else a new empty one.
 */
export async function openKept(paths: KeptPaths, digest: Digest, size: number, pieceSize: number): Promise<{ handle: FileHandle; complete: number[] }> {
  const sidecar = await readSidecar(paths.sidecar);
  const pieceCount = size === 0 ? 0 : Math.ceil(size / pieceSize);
  if (sidecar && sidecar.digest === digest.value && sidecar.size === size && sidecar.pieceSize === pieceSize) {
    const handle = await open(paths.data, 'r+').catch(() => undefined);
    if (handle) {
      const { size: onDisk } = await handle.stat();
      // A piece counts only if the file is long enough to hold it (the list is saved after the bytes are written).
      const complete = [...new Set(sidecar.complete)].filter((i) => Number.isSafeInteger(i) && i >= 0 && i < pieceCount && onDisk >= Math.min(size, (i + 1) * pieceSize));
      return { handle, complete };
    }
  }
  await rm(paths.sidecar, { force: true });
  return { handle: await open(paths.data, 'w+'), complete: [] };
}

/** The size of the blob a fetch left partly written, when it left any complete piece of it. */
export async function keptSize(layout: Layout, digest: Digest): Promise<number | undefined> {
  const sidecar = await readSidecar(keptPaths(layout, digest).sidecar);
  return sidecar !== undefined && sidecar.digest === digest.value && sidecar.complete.length > 0 ? sidecar.size : undefined;
}

/** Records the complete pieces. Atomic: a crash leaves the old list or the new one. */
async function saveSidecar(paths: KeptPaths, digest: Digest, size: number, pieceSize: number, complete: readonly number[]): Promise<void> {
  const sidecar: Sidecar = { version: SIDECAR_VERSION, digest: digest.value, size, pieceSize, complete };
  const tmp = `${paths.sidecar}.tmp`;
  await writeFile(tmp, JSON.stringify(sidecar));
  await rename(tmp, paths.sidecar);
}

/**
 * Saves a partial blob's list of complete pieces, at most every PIECE_LIST_INTERVAL_MS; one save
 * covers every piece completed before it. The bytes are not fsynced first: a killed process loses
 * nothing it wrote (the page cache keeps it), and an fsync per piece held up the thread pool
 * enough to stall piece fetches (other hosts then took those pieces from the seed). After a power
 * cut the list may name bytes that never reached the disk: the digest, checked over the whole
 * file at commit, catches that and the fetch starts over. A failed save only costs a longer
 * re-fetch after a crash.
 */
export class PieceListSaver {
  readonly #paths: KeptPaths;
  readonly #digest: Digest;
  readonly #size: number;
  readonly #pieceSize: number;
  /** The complete pieces now, or undefined once the blob is committed or failed. */
  readonly #complete: () => number[] | undefined;
  #saving: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #last = 0;

  constructor(paths: KeptPaths, digest: Digest, size: number, pieceSize: number, complete: () => number[] | undefined) {
    this.#paths = paths;
    this.#digest = digest;
    this.#size = size;
    this.#pieceSize = pieceSize;
    this.#complete = complete;
  }

  /** The list changed: save it soon. */
  schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#last = Date.now();
      this.#saving = this.#saving.then(async () => {
        const complete = this.#complete();
        if (complete !== undefined) await saveSidecar(this.#paths, this.#digest, this.#size, this.#pieceSize, complete);
      }).catch(() => undefined);
    }, Math.max(0, this.#last + PIECE_LIST_INTERVAL_MS - Date.now()));
    this.#timer.unref();
  }

  /** No more saves; resolves once a save under way has finished. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#saving;
  }
}

export async function removeKept(paths: KeptPaths): Promise<void> {
  await rm(paths.sidecar, { force: true });
  await rm(`${paths.sidecar}.tmp`, { force: true });
  await rm(paths.data, { force: true });
}

/** A partial blob kept at start-up, with the bytes its file takes on disk. */
export interface KeptPartial {
  readonly digest: string;
  readonly bytes: number;
}

/**
 * At start-up: keeps the partial blobs a fetch can resume (a sidecar younger than the maximum
 * age); removes the rest (no complete piece, unreadable, or too old). Returns the ones kept: until
 * a fetch takes one up, what it takes on disk is the file's allocated size (a piece cache's file
 * is sparse: only the pieces fetched take room).
 */
export async function sweepKept(layout: Layout, now = Date.now()): Promise<{ kept: KeptPartial[]; removed: number }> {
  const dir = partialsDir(layout);
  const names = await readdir(dir).catch(() => [] as string[]);
  const kept: KeptPartial[] = [];
  let removed = 0;
  for (const name of names.filter((n) => n.endsWith('.data'))) {
    const base = join(dir, name.slice(0, -'.data'.length));
    const paths = { data: `${base}.data`, sidecar: `${base}.pieces` };
    const sidecar = await readSidecar(paths.sidecar);
    const age = await stat(paths.sidecar).then((s) => now - s.mtimeMs, () => Infinity);
    const data = await stat(paths.data).catch(() => undefined);
    if (sidecar !== undefined && sidecar.complete.length > 0 && age < KEPT_PARTIAL_MAX_AGE_MS && data !== undefined) {
      // Named by the file, not the sidecar: the fetch of that digest is what opens this file.
      kept.push({ digest: name.slice(0, -'.data'.length).replace('-', ':'), bytes: data.blocks * 512 });
    } else {
      await removeKept(paths);
      removed += 1;
    }
  }
  // Sidecars and their temp files without data.
  for (const name of names.filter((n) => !n.endsWith('.data'))) {
    const data = join(dir, name.replace(/\.pieces(\.tmp)?$/, '.data'));
    if (!names.includes(data.slice(dir.length + 1))) await rm(join(dir, name), { force: true });
  }
  return { kept, removed };
}

async function readSidecar(path: string): Promise<Sidecar | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as Partial<Sidecar>;
    if (value.version !== SIDECAR_VERSION || typeof value.digest !== 'string' || !Number.isSafeInteger(value.size) || !Number.isSafeInteger(value.pieceSize) || !Array.isArray(value.complete)) return undefined;
    return value as Sidecar;
  } catch {
    return undefined;
  }
}
