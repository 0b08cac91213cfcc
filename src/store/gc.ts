import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tryParseDigest, type Digest, type ParsedManifest } from '../oci/index.ts';
import { isNotFound } from './files.ts';
import type { Store } from './store.ts';

const DIGEST_IN_TEXT = /\b(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})\b/g;

/**
 * Every blob `roots` (manifest digests) reach: the manifests themselves, their configs and
 * layers, an index's child manifests (recursively) and subjects. A manifest shoal cannot parse
 * (schema 1 written by an old registry, something damaged) still keeps every digest written in
 * its bytes: when unsure, keep. A root whose blob is missing is reported through `warn`.
 */
export async function markReferenced(store: Store, roots: Iterable<Digest>, warn: (message: string) => void = () => undefined): Promise<Set<string>> {
  const marked = new Set<string>();
  const queue: Digest[] = [...roots];
  for (let digest = queue.pop(); digest !== undefined; digest = queue.pop()) {
    if (marked.has(digest.value)) continue;
    marked.add(digest.value);
    let parsed: ParsedManifest | undefined;
    try {
      parsed = (await store.manifests.read(digest))?.parsed;
    } catch {
      const body = await store.blobs.read(digest).catch(() => undefined);
      for (const match of body?.toString('utf8').matchAll(DIGEST_IN_TEXT) ?? []) marked.add(match[1]!);
      warn(`manifest ${digest.value} cannot be parsed; every digest written in it is kept`);
      continue;
    }
    if (parsed === undefined) {
      warn(`manifest ${digest.value} is referenced but its blob is missing`);
      continue;
    }
    for (const blob of parsed.blobs) marked.add(blob.digest.value);
    if (parsed.subject) marked.add(parsed.subject.digest.value);
    for (const child of parsed.manifests) if (!marked.has(child.digest.value)) queue.push(child.digest);
  }
  return marked;
}

export interface GcEntry {
  readonly digest: string;
  readonly size: number;
}

export interface GcResult {
  readonly dryRun: boolean;
  readonly repositories: number;
  /** Manifest revisions found (the roots of the mark phase). */
  readonly manifests: number;
  /** Blobs that stay. */
  readonly kept: number;
  readonly keptBytes: number;
  /** Blobs deleted (or, in a dry run, that would be). */
  readonly swept: readonly GcEntry[];
  readonly sweptBytes: number;
  /** `_layers` links removed with the blobs they named. */
  readonly unlinked: number;
  readonly warnings: readonly string[];
}

export interface GcOptions {
  readonly dryRun?: boolean;
  /** Called for each blob swept (or that would be), as it happens. */
  readonly onSweep?: (entry: GcEntry) => void;
}

/**
 * Mark and sweep over the data directory, as registry:2's `garbage-collect` does: mark every blob
 * referenced by any manifest revision of any repository, delete the rest, and with them the
 * repositories' `_layers` links naming them (registry:2 leaves those dangling). Tags are not
 * consulted: an untagged revision keeps its blobs, as in registry:2 without --delete-untagged.
 *
 * Run it with the daemon stopped (`shoal gc` refuses otherwise): blobs a push has uploaded but
 * whose manifest has not arrived yet are referenced by nothing, and only the daemon knows they
 * are wanted; it also counts disk usage and announces its blobs to the swarm from memory.
 * Online, eviction (`--max-disk-usage`) is the tool. A dry run only reads, so it can run anytime.
 */
export async function collectGarbage(store: Store, options: GcOptions = {}): Promise<GcResult> {
  const dryRun = options.dryRun ?? false;
  const warnings: string[] = [];
  const repositories = await store.repositories.repositories();
  const roots: Digest[] = [];
  for (const repository of repositories) roots.push(...(await store.repositories.manifests(repository)));
  const marked = await markReferenced(store, roots, (message) => warnings.push(message));

  const swept: GcEntry[] = [];
  let sweptBytes = 0;
  let kept = 0;
  let keptBytes = 0;
  for await (const { digest, size } of store.blobs.list()) {
    if (marked.has(digest.value)) {
      kept += 1;
      keptBytes += size;
      continue;
    }
    const entry = { digest: digest.value, size };
    swept.push(entry);
    sweptBytes += size;
    options.onSweep?.(entry);
  }

  let unlinked = 0;
  if (!dryRun && swept.length > 0) {
    const gone = new Set(swept.map((entry) => entry.digest));
    for (const entry of swept) await store.blobs.delete(tryParseDigest(entry.digest)!);
    for (const repository of [...new Set([...repositories, ...(await layerRepositories(store))])]) {
      for (const digest of await layerLinks(store, repository)) {
        if (gone.has(digest.value) && (await store.repositories.unlinkBlob(repository, digest))) unlinked += 1;
      }
    }
  }
  return { dryRun, repositories: repositories.length, manifests: new Set(roots.map((d) => d.value)).size, kept, keptBytes, swept, sweptBytes, unlinked, warnings };
}

/** Digests named by a repository's `_layers` links. */
async function layerLinks(store: Store, repository: string): Promise<Digest[]> {
  const root = join(store.layout.repository(repository), '_layers');
  const found: Digest[] = [];
  for (const algorithm of await list(root)) {
    for (const hex of await list(join(root, algorithm))) {
      const digest = tryParseDigest(`${algorithm}:${hex}`);
      if (digest) found.push(digest);
    }
  }
  return found;
}

/** Repositories with `_layers` but no `_manifests` (blobs pushed, no manifest ever): `repositories()` does not list those. */
async function layerRepositories(store: Store): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const names = await list(dir);
    if (names.includes('_layers') && prefix !== '') found.push(prefix);
    for (const name of names) {
      if (name.startsWith('_')) continue;
      await walk(join(dir, name), prefix ? `${prefix}/${name}` : name);
    }
  };
  await walk(store.layout.repositoriesRoot(), '');
  return found;
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isNotFound(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw error;
  }
}
