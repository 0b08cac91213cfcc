import type { Logger } from 'pino';
import { OciError, digestOf, parseManifest, referenceString, type ByteRange, type Descriptor, type Digest, type ParsedManifest, type Reference } from '../oci/index.ts';
import type { ChunkOptions, Store, UploadStatus } from '../store/index.ts';
import { inPool } from '../lib/pool.ts';
import type { BlobService } from './blob-service.ts';

export type { UploadStatus } from '../store/index.ts';

export interface PushInit {
  /** Largest blob upload body in bytes; 0: no limit. */
  readonly maxUploadBytes: number;
}

/** Blobs a pushed manifest names that are not here are looked up (and fetched) this many at a time. */
export const REMOTE_LOOKUPS_AT_ONCE = 4;
/** A pushed manifest is refused once this many of its blobs are known missing; the rest are not looked up. */
export const MISSING_BEFORE_REFUSAL = 8;

/**
 * The write side of the registry API: blob uploads (chunked, monolithic, cross-repository
 * mount), manifest puts with their reference checks, and deletes. The routes parse requests and
 * shape answers; what gets stored, linked and checked is decided here.
 */
export class PushService {
  readonly #store: Store;
  readonly #blobs: BlobService;
  readonly #logger: Logger;
  readonly #maxBytes: number;

  constructor(store: Store, blobs: BlobService, logger: Logger, init: PushInit) {
    this.#store = store;
    this.#blobs = blobs;
    this.#logger = logger;
    this.#maxBytes = init.maxUploadBytes > 0 ? init.maxUploadBytes : Number.POSITIVE_INFINITY;
  }

  /**
   * Links `digest` into `name` without an upload: from repository `from` when it holds the blob,
   * or, with no `from`, any stored blob in a mirrored repository. False: the client must upload.
   */
  async mount(name: string, digest: Digest, from: string | undefined): Promise<boolean> {
    if (from !== undefined) {
      if ((await this.#blobs.statHere({ name: from, digest })) === undefined) return false;
      this.#store.blobs.touch(digest); // about to be referenced by a manifest: recently used
      await this.#store.repositories.linkBlob(name, digest);
      this.#logger.info({ repository: name, from, digest: digest.value }, 'blob mounted');
      return true;
    }
    if ((await this.#store.blobs.stat(digest)) === undefined || !this.#blobs.isMirrored(name)) return false;
    this.#store.blobs.touch(digest);
    await this.#store.repositories.linkBlob(name, digest);
    return true;
  }

  /** A whole blob in one request (POST `?digest=`); `declaredLength` is the Content-Length, when valid. */
  async putBlob(name: string, digest: Digest, body: AsyncIterable<Uint8Array>, declaredLength: number | undefined): Promise<void> {
    const writer = await this.#store.blobs.createWriter(digest.algorithm);
    try {
      await writer.writeStream(body, this.#maxBytes);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    await writer.commit(digest, declaredLength);
    await this.#store.repositories.linkBlob(name, digest);
    this.#logger.info({ repository: name, digest: digest.value }, 'blob pushed (monolithic)');
  }

  startUpload(name: string): Promise<UploadStatus> {
    return this.#store.uploads.create(name);
  }

  /** `length`: the request's Content-Length, when valid (checked against `range` before a byte is read). */
  appendUpload(name: string, id: string, body: AsyncIterable<Uint8Array>, range: ByteRange | undefined, length?: number): Promise<UploadStatus> {
    return this.#store.uploads.append(name, id, body, this.#chunk(range, length));
  }

  /** Verifies the upload against `digest` (after the last chunk, when the PUT carries one) and links the blob. */
  async finishUpload(name: string, id: string, digest: Digest, body: AsyncIterable<Uint8Array> | undefined, range?: ByteRange, length?: number): Promise<void> {
    const { size } = await this.#store.uploads.finish(name, id, digest, body, this.#chunk(range, length));
    await this.#store.repositories.linkBlob(name, digest);
    this.#logger.info({ repository: name, digest: digest.value, size }, 'blob pushed');
  }

  #chunk(range: ByteRange | undefined, length: number | undefined): ChunkOptions {
    return { ...(range ? { start: range.start, end: range.end } : {}), ...(length !== undefined ? { length } : {}), maxBytes: this.#maxBytes };
  }

  uploadStatus(name: string, id: string): Promise<UploadStatus> {
    return this.#store.uploads.status(name, id);
  }

  async cancelUpload(name: string, id: string): Promise<void> {
    await this.#store.uploads.status(name, id); // an unknown upload is the client's 404
    await this.#store.uploads.cancel(name, id);
  }

  /** Stores a pushed manifest once everything it references is here; its digest and subject for the answer. */
  async putManifest(name: string, reference: Reference, body: Buffer, contentType: string | undefined): Promise<{ digest: Digest; subject: Digest | undefined }> {
    const parsed = parseManifest(body, contentType);
    const digest = digestOf(body, reference.kind === 'digest' ? reference.digest.algorithm : 'sha256');
    if (reference.kind === 'digest' && reference.digest.value !== digest.value) {
      throw new OciError('DIGEST_INVALID', `manifest body has digest ${digest.value}, not ${reference.digest.value} as its URL says`);
    }
    await this.#assertReferencesPresent(name, parsed);
    // Every blob and child manifest the manifest names is linked into the repository, as registry:2
    // keeps its layout: one found here under another name (a base image pulled before) is served,
    // not linked, until then.
    for (const blob of parsed.blobs) await this.#store.repositories.linkBlob(name, blob.digest);
    for (const child of parsed.manifests) await this.#store.repositories.linkManifest(name, child.digest);
    await this.#store.manifests.put(name, body, parsed, reference.kind === 'tag' ? reference.tag : undefined, digest, { pushed: true });
    this.#logger.info({ repository: name, reference: referenceString(reference), digest: digest.value }, 'manifest pushed');
    return { digest, subject: parsed.subject?.digest };
  }

  /** Every blob a manifest names must be in the repository, every child manifest too (a subject need not be). */
  async #assertReferencesPresent(name: string, parsed: ParsedManifest): Promise<void> {
    const notHere = new Map<string, Descriptor>();
    for (const blob of parsed.blobs) {
      if (notHere.has(blob.digest.value)) continue;
      const size = await this.#blobs.settledHere({ name, digest: blob.digest });
      if (size === undefined) notHere.set(blob.digest.value, blob);
      else assertSize(blob, size);
    }
    const { missing, unchecked } = await this.#fetchMissing(name, [...notHere.values()]);
    for (const child of parsed.manifests) {
      if (!(await this.#childHere(name, child.digest))) missing.push(child);
    }
    if (missing.length > 0) {
      const rest = unchecked > 0 ? ` (${unchecked} more not here were not looked up)` : '';
      throw new OciError('MANIFEST_BLOB_UNKNOWN', `manifest references ${missing.length} blob(s) or manifest(s) not in ${name} (nor could they be fetched from the seed or a peer now)${rest}; push them first, or retry if they exist there: ${missing.map((d) => d.digest.value).join(', ')}`, { digests: missing.map((d) => d.digest.value) });
    }
  }

  /**
   * Fetches blobs a manifest names that are not here, as a pull would (a pusher skips a layer a
   * HEAD found at the seed: an image built on the seed's base); returns those nobody had. A few at
   * once, and no more once MISSING_BEFORE_REFUSAL are known missing: each costs the seed a HEAD,
   * and one 4 MiB manifest of made-up digests cost it 25 000 (audit F5).
   */
  async #fetchMissing(name: string, wanted: readonly Descriptor[]): Promise<{ missing: Descriptor[]; unchecked: number }> {
    const missing: Array<{ index: number; blob: Descriptor }> = [];
    let unchecked = 0;
    await inPool([...wanted.entries()], REMOTE_LOOKUPS_AT_ONCE, async ([index, blob]) => {
      if (missing.length >= MISSING_BEFORE_REFUSAL) return void (unchecked += 1);
      const size = await this.#blobs.settled({ name, digest: blob.digest });
      if (size === undefined) missing.push({ index, blob });
      else assertSize(blob, size);
    });
    return { missing: missing.sort((a, b) => a.index - b.index).map((m) => m.blob), unchecked };
  }

  /**
   * A child manifest in the repository, or, in a mirrored one, held here under another name: the
   * pusher's HEAD was answered 200 from that copy (ManifestService) and so it did not push it.
   * One deleted from this repository is not brought back by another repository's copy.
   */
  async #childHere(name: string, digest: Digest): Promise<boolean> {
    const repositories = this.#store.repositories;
    if (await repositories.hasManifest(name, digest)) return true;
    if (!this.#blobs.isMirrored(name) || (await repositories.deleted.markedAt(name, 'manifest', digest.value)) !== undefined) return false;
    return (await this.#store.manifests.readIfManifest(digest)) !== undefined;
  }

  /** A tag delete removes the tag; a digest delete unlinks the revision from the repository. */
  async deleteManifest(name: string, reference: Reference): Promise<void> {
    const repositories = this.#store.repositories;
    if (reference.kind === 'tag') {
      if ((await repositories.resolveTag(name, reference.tag)) === undefined) {
        throw new OciError('MANIFEST_UNKNOWN', `tag ${name}:${reference.tag} is unknown`);
      }
      // Marks first, as for blobs (BlobService.delete).
      await repositories.deleted.mark(name, 'tag', reference.tag);
      await repositories.untag(name, reference.tag);
    } else {
      if (!(await repositories.hasManifest(name, reference.digest))) {
        throw new OciError('MANIFEST_UNKNOWN', `manifest ${reference.digest.value} is not in ${name}`);
      }
      const at = Date.now();
      await repositories.deleted.mark(name, 'manifest', reference.digest.value, at);
      for (const tag of await repositories.unlinkManifest(name, reference.digest)) await repositories.deleted.mark(name, 'tag', tag, at);
    }
    this.#logger.info({ repository: name, reference: referenceString(reference) }, 'manifest deleted');
  }
}

function assertSize(blob: Descriptor, size: number): void {
  if (size !== blob.size) throw new OciError('MANIFEST_INVALID', `descriptor for ${blob.digest.value} says ${blob.size} bytes but the blob has ${size}`, { digest: blob.digest.value });
}
