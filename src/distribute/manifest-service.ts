import type { Logger } from 'pino';
import { MANIFEST_MEDIA_TYPES, OciError, digestOf, tryParseDigest, parseManifest, type Digest, type Reference } from '../oci/index.ts';
import type { Store, StoredManifest } from '../store/index.ts';
import type { UpstreamTarget } from '../upstream/types.ts';
import type { BlobSizeHints } from './blob-size.ts';
import { SeedRefusedError, seedRefusal } from './seed-refusal.ts';
import { pushedToSwarm, type AnnouncedTag } from './tag-origin.ts';
import type { UpstreamRouter } from './types.ts';

export interface ManifestServiceInit {
  /** How long a tag revalidation HEAD may take before the cached tag is served. */
  readonly tagTimeoutMs: number;
  /** Told the blob sizes of every manifest resolved, so fetches of its blobs start with a trusted size. */
  readonly sizes?: BlobSizeHints;
}

/** The swarm as manifest resolution needs it: tags peers announced, and manifest bytes from peers. */
export interface ManifestPeers {
  /** `timestamp`: when the tag was set, in milliseconds since the epoch on the clock of the host that set it. */
  newestTag(repository: string, tag: string): (AnnouncedTag & { timestamp: number }) | undefined;
  /** A manifest's bytes from a peer that holds it (verified against the digest by the caller). */
  fetch(name: string, digest: Digest): Promise<Buffer | undefined>;
}

export interface ResolvedManifest extends StoredManifest {
  /** where the answer came from, for logs and headers */
  readonly origin: 'local' | 'seed' | 'cache-seed-down' | 'peers';
}

const ACCEPT_ALL = MANIFEST_MEDIA_TYPES;
/** A seed refusing shoal is said in the log at most this often (every manifest request hit it). */
const REFUSAL_WARN_INTERVAL_MS = 60_000;

/**
 * Tag and digest resolution. The seed is authoritative for tags (revalidated with a HEAD on every
 * pull, short timeout); the manifest it names comes from disk, else from a peer that holds it,
 * else from the seed. When no seed answers, the cached tag is served and the log says so.
 * Manifests by digest come from disk when present. Everything is keyed by the repository's cache
 * name (the router's `repository`), so one registry's tags never answer for another's.
 * Concurrent requests for one repository and tag (or digest) share one resolution: 200 clients
 * pulling one tag cost the seed one HEAD, not 200.
 */
export class ManifestService {
  readonly #store: Store;
  readonly #router: UpstreamRouter;
  readonly #logger: Logger;
  readonly #tagTimeoutMs: number;
  readonly #peers: ManifestPeers | undefined;
  readonly #sizes: BlobSizeHints | undefined;
  readonly #inFlight = new Map<string, Promise<ResolvedManifest>>();
  #refusalWarnedAt = Number.NEGATIVE_INFINITY;

  constructor(store: Store, router: UpstreamRouter, logger: Logger, init: ManifestServiceInit, peers?: ManifestPeers) {
    this.#store = store;
    this.#router = router;
    this.#logger = logger;
    this.#tagTimeoutMs = init.tagTimeoutMs;
    this.#peers = peers;
    this.#sizes = init.sizes;
  }

  async resolve(name: string, reference: Reference, ns?: string): Promise<ResolvedManifest> {
    const repository = this.#router.repository(name, ns);
    const targets = this.#router.targets(repository);
    const resolved = await (reference.kind === 'digest'
      ? this.#shared(`${repository}@${reference.digest.value}`, () => this.#byDigest(repository, reference.digest, targets))
      : this.#shared(`${repository}:${reference.tag}`, () => this.#byTag(repository, reference.tag, targets))
    ).catch((error: unknown) => {
      // The operator's to fix, and the client only sees a 503: said in the log, once a minute at most.
      if (error instanceof SeedRefusedError && Date.now() - this.#refusalWarnedAt >= REFUSAL_WARN_INTERVAL_MS) {
        this.#refusalWarnedAt = Date.now();
        this.#logger.warn({ repository, reason: (error as Error).message }, 'the seed registry refused shoal: pulls of what is not cached here fail until its credentials are fixed');
      }
      throw error;
    });
    this.#sizes?.remember(resolved.parsed.blobs);
    return resolved;
  }

  /** Joins the resolution of `key` already running, else starts one; nothing is kept once it settles. */
  #shared(key: string, resolve: () => Promise<ResolvedManifest>): Promise<ResolvedManifest> {
    let running = this.#inFlight.get(key);
    if (!running) {
      running = resolve().finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, running);
    }
    return running;
  }

  async #byDigest(name: string, digest: Digest, targets: UpstreamTarget[]): Promise<ResolvedManifest> {
    const manifests = this.#store.manifests;
    const here = await manifests.get(name, digest);
    // Deleted here: only the seed brings it back (neither this host's copy under another name nor a
    // peer's does); with the seed down, the delete holds.
    const deleted = !here && (await this.#store.repositories.deleted.markedAt(name, 'manifest', digest.value)) !== undefined;
    const local = here ?? (targets.length > 0 && !deleted ? await manifests.readIfManifest(digest) : undefined);
    if (local) {
      // As for blobs (BlobService): served under any name, linked only into a repository that
      // exists here, so anonymous GETs cannot make repositories (on disk and in the catalog).
      if (await this.#store.repositories.holdsManifests(name)) await this.#store.repositories.linkManifest(name, digest);
      return { ...local, origin: 'local' };
    }
    let failure: unknown;
    for (const target of targets) {
      try {
        const fetched = await this.#fetch(name, target, digest.value, undefined);
        if (fetched) return { ...fetched, origin: 'seed' };
      } catch (error) {
        failure = error;
      }
    }
    const fromPeers = deleted ? undefined : await this.#fromPeers(name, digest, undefined);
    if (fromPeers) return fromPeers;
    if (failure && !deleted) throw unavailable(name, digest.value, failure);
    throw new OciError('MANIFEST_UNKNOWN', `manifest ${digest.value} is not in repository ${name}`);
  }

  /** A manifest from a peer, verified, stored (and tagged); typed as the seed's HEAD said, when one did. */
  async #fromPeers(name: string, digest: Digest, tag: string | undefined, contentType?: string): Promise<ResolvedManifest | undefined> {
    if (!this.#peers) return undefined;
    const local = await this.#store.manifests.readIfManifest(digest);
    const body = local?.body ?? (await this.#peers?.fetch(name, digest).catch((error: unknown) => {
      this.#logger.warn({ repository: name, digest: digest.value, err: error }, 'manifest fetch from peers failed');
      return undefined;
    }));
    if (!body) return undefined;
    if (digestOf(body, digest.algorithm).value !== digest.value) {
      this.#logger.warn({ repository: name, digest: digest.value }, 'a peer sent a manifest that does not match its digest; ignored');
      return undefined;
    }
    let parsed: ReturnType<typeof parseManifest>;
    try {
      parsed = parseManifest(body, contentType);
    } catch (error) {
      // The digest names a layer or config, not a manifest: no manifest by that digest, not a bad request.
      if (error instanceof OciError && error.code === 'MANIFEST_INVALID') return undefined;
      throw error;
    }
    // By digest under a name that is no repository here: kept, but in no repository (see #byDigest).
    if (tag === undefined && !(await this.#store.repositories.holdsManifests(name))) await this.#store.manifests.putUnlinked(body, parsed, digest);
    else await this.#store.manifests.put(name, body, parsed, tag);
    return { digest, mediaType: parsed.mediaType, body, parsed, origin: local ? 'local' : 'peers' };
  }

  async #byTag(name: string, tag: string, targets: UpstreamTarget[]): Promise<ResolvedManifest> {
    let failure: unknown;
    for (const target of targets) {
      try {
        const head = await target.upstream.headManifest(target.remoteName, tag, ACCEPT_ALL, { timeoutMs: this.#tagTimeoutMs });
        if (!head) continue;
        // Remembered across restarts: the seed's 404 later withdraws this tag here (and only such a
        // tag). In memory at once; the file is written behind, off the pull's path.
        void this.#store.seedTags.record(name, head.digest, tag).catch((error: unknown) => this.#logger.warn({ repository: name, tag, err: error }, 'could not record where a tag came from'));
        const local = await this.#store.manifests.read(head.digest);
        if (local) {
          await this.#store.manifests.put(name, local.body, local.parsed, tag);
          return { ...local, origin: 'seed' };
        }
        // The seed named the digest; the bytes are checked against it, so a peer that holds them
        // serves as well, and its answer does not queue behind the blob bytes on the seed's link
        // (with hosts pulling together, a late host's manifest GET waited there for seconds).
        const fromPeers = await this.#fromPeers(name, head.digest, tag, head.mediaType).catch((error: unknown) => {
          this.#logger.warn({ repository: name, tag, digest: head.digest.value, err: error }, 'the manifest from peers did not do; asking the seed');
          return undefined;
        });
        if (fromPeers) return fromPeers;
        const fetched = await this.#fetch(name, target, head.digest.value, tag);
        if (fetched) return { ...fetched, origin: 'seed' };
      } catch (error) {
        failure = error;
      }
    }
    const announced = this.#peers?.newestTag(this.#router.qualifiedName(name), tag);
    // Every seed answered and none has the tag: it exists only if it was pushed to the swarm.
    const seedSaysNo = targets.length > 0 && failure === undefined;
    // The newest tag a peer announced (when the seed answered, only one pushed to the swarm). A tag
    // deleted here, or deleted on its origin as the swarm last heard, stays deleted until it is set
    // again, here or (later than the delete) on a peer.
    const usable = announced && !announced.deleted && (!seedSaysNo || announced.pushed === true) ? announced : undefined;
    const deletedAt = usable ? await this.#store.repositories.deleted.markedAt(name, 'tag', tag) : undefined;
    const announcedDigest = usable && (deletedAt === undefined || usable.timestamp > deletedAt) ? tryParseDigest(usable.digest) : undefined;
    const cached = await this.#localTag(name, tag);
    // The newest record names another digest than the one cached here: set later, elsewhere (every
    // tag set here is told to the swarm when it is set), so the last writer wins.
    const newer = async (): Promise<ResolvedManifest | undefined> => {
      const moved = cached && announcedDigest && announcedDigest.value !== cached.digest.value ? await this.#fromPeers(name, announcedDigest, tag) : undefined;
      if (moved) this.#logger.info({ repository: name, tag, digest: moved.digest.value, was: cached!.digest.value }, 'tag set again in the swarm: following the newest');
      return moved;
    };
    if (cached) {
      // The seed named this digest for this tag when this node last asked it.
      const fromSeed = this.#store.seedTags.pushedTag(name, tag) === cached.digest.value;
      if (failure) {
        // A tag pushed to the swarm is the swarm's, seed or no seed: its newest push wins here too.
        // Not over the seed's own tag: a push of it elsewhere loses whenever the seed answers, so
        // following it only while the seed is down flipped the image with the seed's reachability
        // (and let a member that can slow the seed past the tag timeout choose every node's image).
        const moved = usable?.pushed === true && !fromSeed ? await newer() : undefined;
        if (moved) return moved;
        this.#logger.warn({ repository: name, tag, digest: cached.digest.value, err: failure }, 'seed unreachable: serving the cached tag, which may be stale');
        return { ...cached, origin: 'cache-seed-down' };
      }
      // Only a tag this node took from the seed is the seed's to withdraw: one pushed (here or to
      // another node), or taken from the swarm, is served as before (after a restart the swarm may
      // not yet have said it was pushed).
      if (!seedSaysNo || !fromSeed || pushedToSwarm(this.#store.pushed, announced, name, tag, cached.digest.value)) {
        // The swarm is the authority here. Without this, a host that had pulled a tag served that
        // image for good, whatever was pushed after it.
        return (await newer()) ?? { ...cached, origin: 'local' };
      }
      // Pushed here too, before the seed's own tag of that name took over (the seed is
      // authoritative while it has it): with the seed's gone, the tag names the pushed image again.
      const pushedDigest = tryParseDigest(this.#store.pushed.pushedTag(name, tag) ?? '');
      const pushedImage = pushedDigest && pushedDigest.value !== cached.digest.value ? await this.#store.manifests.readIfManifest(pushedDigest) : undefined;
      if (pushedImage) {
        await this.#store.repositories.tag(name, tag, pushedImage.digest);
        this.#logger.info({ repository: name, tag, digest: pushedImage.digest.value, seedDigest: cached.digest.value }, 'the seed no longer has this tag: it names the image pushed here again');
        return { ...pushedImage, origin: 'local' };
      }
      // Pulled through, and gone from the seed since: withdrawn there, so gone here too (the
      // manifest stays, by digest); the untag is announced, so peers stop resolving it as well.
      await this.#store.repositories.untag(name, tag);
      this.#logger.info({ repository: name, tag, digest: cached.digest.value }, 'the seed no longer has this tag and it was never pushed to the swarm: tag removed here');
    }
    // Not here, and the seed is down or does not know it: the newest tag a peer announced.
    if (announcedDigest) {
      const fromPeers = await this.#fromPeers(name, announcedDigest, tag);
      if (fromPeers) {
        this.#logger.info({ repository: name, tag, digest: announcedDigest.value, seedDown: failure !== undefined }, 'tag resolved from the swarm');
        return fromPeers;
      }
      if (!failure) {
        // The tag exists (a peer pushed or resolved it), but no peer could send its manifest now
        // (its holder unreachable): not "unknown", which a CI job takes for a push that never happened.
        throw new OciError('UNAVAILABLE', `manifest ${name}:${tag} is announced in the swarm as ${announcedDigest.value}, but no peer could send it now (its holder may be unreachable); retry`);
      }
    }
    if (failure) throw unavailable(name, tag, failure);
    throw new OciError('MANIFEST_UNKNOWN', `manifest ${name}:${tag} is unknown${targets.length > 0 ? ' here and upstream' : ''}`);
  }

  async #localTag(name: string, tag: string): Promise<StoredManifest | undefined> {
    const digest = await this.#store.repositories.resolveTag(name, tag);
    return digest ? this.#store.manifests.read(digest) : undefined;
  }

  /** GETs a manifest from one upstream, verifies its digest, stores it (and the tag). */
  async #fetch(name: string, target: UpstreamTarget, reference: string, tag: string | undefined): Promise<StoredManifest | undefined> {
    const remote = await target.upstream.getManifest(target.remoteName, reference, ACCEPT_ALL);
    if (!remote) return undefined;
    if (reference.includes(':') && digestOf(remote.body, remote.digest.algorithm).value !== reference) {
      throw new OciError('UNAVAILABLE', `upstream ${target.upstream.url} sent a manifest that does not match the requested ${reference}`);
    }
    const parsed = parseManifest(remote.body, remote.mediaType);
    const digest = await this.#store.manifests.put(name, remote.body, parsed, tag);
    this.#logger.info({ repository: name, reference, digest: digest.value, upstream: target.upstream.url }, 'manifest fetched from seed');
    return { digest, mediaType: parsed.mediaType, body: remote.body, parsed };
  }
}

function unavailable(name: string, reference: string, cause: unknown): OciError {
  const refused = seedRefusal(cause);
  if (refused !== cause) return refused as OciError;
  if (cause instanceof OciError) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new OciError('UNAVAILABLE', `cannot get ${name}:${reference}: the seed registry did not answer (${reason}) and nothing is cached here; check the upstream and retry`, undefined, { cause });
}
