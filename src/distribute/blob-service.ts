import { OciError, type ByteRange, type Digest } from '../oci/index.ts';
import type { Store } from '../store/index.ts';
import type { Readable } from 'node:stream';
import type { Fetcher } from './fetcher.ts';
import { CLIENT_READ_IDLE_MS } from './read-idle.ts';
import type { OwnerAsk } from './peer-data.ts';
import { seedRefusal } from './seed-refusal.ts';
import type { BlobWant, OpenedBlob } from './types.ts';

/** What the peer data plane sends for a digest. */
export type PeerBlob =
  | { readonly kind: 'stored'; readonly size: number; readonly path: string; readonly hold: () => () => void }
  | { readonly kind: 'arriving'; readonly size: number; read(range: ByteRange): Readable; busy(range: ByteRange): boolean };

/** The peer data plane's one call into the blob sources. */
export interface PeerBlobs {
  forPeer(digest: Digest, ask: OwnerAsk | undefined, asker: string): Promise<PeerBlob | undefined>;
}

/**
 * The blob source order of DESIGN.md: local disk → this host's in-flight fetch → remote sources
 * (via the fetcher). Routes only ever talk to this.
 */
export class BlobService implements PeerBlobs {
  readonly #store: Store;
  readonly #fetcher: Fetcher;

  constructor(store: Store, fetcher: Fetcher) {
    this.#store = store;
    this.#fetcher = fetcher;
  }

  /** Whether the repository is served from upstreams or peers, rather than only from pushes here. */
  isMirrored(name: string, ns?: string): boolean {
    return this.#fetcher.hasRemoteSources(ns !== undefined ? { name, ns } : { name });
  }

  /**
   * Size of a blob for a HEAD: present here (see statHere), else what the seed or the swarm says of
   * it in a mirrored repository, as a GET would fetch it (the distribution spec: a HEAD of an
   * existing blob is 200; registry:2's proxy asks its remote too). A pusher told so skips the
   * upload; its manifest then waits for the blob to be fetched here (settled).
   */
  async stat(want: BlobWant): Promise<number | undefined> {
    const here = await this.statHere(want);
    if (here !== undefined || !this.isMirrored(want.name, want.ns) || (await this.#deletedHere(want))) return here;
    return this.#fetcher.remote.size(want);
  }

  /** Size of a blob present here: on disk and visible in the repository, or arriving now. */
  async statHere(want: BlobWant): Promise<number | undefined> {
    if (await this.#visibleLocally(want)) {
      // A HEAD is a use: a pusher that found the blob here is about to reference it in a manifest.
      this.#store.blobs.touch(want.digest);
      return this.#store.blobs.stat(want.digest);
    }
    const joined = await this.#fetcher.joinable(want.digest)?.catch(() => undefined);
    return joined?.state === 'writing' ? joined.size : undefined;
  }

  /**
   * Size of the blob stored here and visible in the repository, once a fetch of it has ended: a
   * manifest pushed on a blob this host lacks (a HEAD found it arriving, at the seed or at a peer,
   * so the pusher did not upload it) is accepted only once the blob is fetched and committed here,
   * as a GET would fetch it, never left naming a blob that is not here.
   */
  async settled(want: BlobWant): Promise<number | undefined> {
    const here = await this.settledHere(want);
    if (here !== undefined) return here;
    if (!this.isMirrored(want.name, want.ns) || (await this.#deletedHere(want))) return undefined;
    const fetched = await this.#fetcher.fetch(want).catch(() => undefined);
    await fetched?.done().catch(() => undefined);
    return (await this.#visibleLocally(want)) ? this.#store.blobs.stat(want.digest) : undefined;
  }

  /** Size of the blob visible here once a fetch of it running now has ended; nothing is asked of the seed or peers. */
  async settledHere(want: BlobWant): Promise<number | undefined> {
    return (await this.#arrived(want)) ? this.#store.blobs.stat(want.digest) : undefined;
  }

  /**
   * The blob (or `range` of it), from wherever it is; undefined when nobody has it. `ranged`: the
   * client sent a Range header, so a missing blob is fetched range first (Fetcher.fetchRange).
   */
  async open(want: BlobWant, range?: (size: number) => ByteRange | undefined, ranged = false): Promise<OpenedBlob | undefined> {
    if (await this.#visibleLocally(want)) {
      const local = await this.#openLocal(want, range);
      if (local) return local;
    }
    if (!this.isMirrored(want.name, want.ns) || (await this.#deletedHere(want))) return undefined;
    const alreadyRunning = this.#fetcher.joinable(want.digest) !== undefined;
    if (ranged && range) {
      const read = await this.#fetcher.fetchRange(want, range).catch((error: unknown) => Promise.reject(seedRefusal(error)));
      if (!read) return this.#openLocal(want, range);
      return { size: read.partial.size, range: read.range, stream: read.stream, origin: alreadyRunning ? 'joined' : 'fetched' };
    }
    const partial = await this.#fetcher.fetch(want).catch((error: unknown) => Promise.reject(seedRefusal(error)));
    if (!partial) {
      // Committed by a fetch that just finished, or nobody has it.
      return this.#openLocal(want, range);
    }
    const byteRange = range?.(partial.size);
    const stream = partial.createReader(this.#store.blobs.path(want.digest), byteRange, { holdBackUnverified: true, idleTimeoutMs: CLIENT_READ_IDLE_MS });
    return { size: partial.size, range: byteRange, stream, origin: alreadyRunning ? 'joined' : 'fetched' };
  }

  /** Whether the blob is visible here once a fetch of it running now has ended. */
  async #arrived(want: BlobWant): Promise<boolean> {
    const arriving = await this.#fetcher.joinable(want.digest)?.catch(() => undefined);
    await arriving?.done().catch(() => undefined);
    return this.#visibleLocally(want);
  }

  async #openLocal(want: BlobWant, range?: (size: number) => ByteRange | undefined): Promise<OpenedBlob | undefined> {
    const size = await this.#store.blobs.stat(want.digest);
    if (size === undefined) return undefined;
    return { origin: 'local', size, range: range?.(size), path: this.#store.blobs.path(want.digest) };
  }

  /**
   * A stored blob is visible in a repository it is linked to. In a mirrored repository any
   * stored blob is (content addressing makes that safe), and gets linked for registry:2's sake.
   */
  async #visibleLocally(want: BlobWant): Promise<boolean> {
    const repositories = this.#store.repositories;
    if (await repositories.hasBlobLink(want.name, want.digest)) return true;
    if (!this.isMirrored(want.name, want.ns)) return false;
    if ((await this.#store.blobs.stat(want.digest)) === undefined || (await this.#deletedHere(want))) return false;
    // Linked only into a repository that exists here (a manifest pulled or pushed into it): a GET
    // under any other name is served, but writes nothing, so anonymous clients cannot make
    // repositories (directories without end, and a tag list that says 200 for a name never pulled).
    if (await repositories.holdsManifests(want.name)) await repositories.linkBlob(want.name, want.digest);
    return true;
  }

  /**
   * For the peer data plane: a blob stored here (sent from its file, held from eviction while it
   * is), or one this host is assembling — or, asked as the owner of its pieces, now fetches
   * (Fetcher.forPeer). Undefined: not here.
   */
  async forPeer(digest: Digest, ask: OwnerAsk | undefined, asker: string): Promise<PeerBlob | undefined> {
    const size = await this.#store.blobs.stat(digest);
    if (size !== undefined) return { kind: 'stored', size, path: this.#store.blobs.path(digest), hold: () => this.hold(digest) };
    const arriving = await this.#fetcher.forPeer(digest, ask, asker);
    return arriving && { kind: 'arriving', size: arriving.size, read: (range) => arriving.read(range), busy: (range) => arriving.busy(range) };
  }

  /** Marks a stored blob in use (eviction leaves it alone) until the returned release is called. */
  hold(digest: Digest): () => void {
    return this.#store.blobs.acquire(digest);
  }

  async delete(name: string, want: BlobWant): Promise<void> {
    const repositories = this.#store.repositories;
    // In a mirrored repository a blob stored here (or arriving) is in it, whether or not a GET has linked it yet.
    if (!(await repositories.hasBlobLink(name, want.digest)) && !(await this.#arrived(want))) {
      throw new OciError('BLOB_UNKNOWN', `blob ${want.digest.value} is not in repository ${name}`);
    }
    // Marked first: a crash between the two leaves the blob linked (the delete did not happen),
    // never unlinked without its mark (brought back by the next GET).
    await repositories.deleted.mark(name, 'blob', want.digest.value);
    await repositories.unlinkBlob(name, want.digest);
  }

  /**
   * Deleted from the repository here and not brought back. In a repository with no seed, the copy
   * in this host's store (or a peer's) does not bring it back; a push or mount does. In one with a
   * seed the seed is authoritative: a blob it serves comes back (this host only dropped its link
   * to its cache), one it does not (pushed here, then deleted) stays deleted, as on registry:2.
   */
  async #deletedHere(want: BlobWant): Promise<boolean> {
    if ((await this.#store.repositories.deleted.markedAt(want.name, 'blob', want.digest.value)) === undefined) return false;
    return !this.#fetcher.isSeeded(want) || (await this.#fetcher.remote.size(want, true)) === undefined;
  }
}
