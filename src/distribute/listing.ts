import type { Logger } from 'pino';
import { OciError, type Descriptor, type Digest } from '../oci/index.ts';
import { compareLexical, type Store } from '../store/index.ts';
import type { UpstreamRouter } from './types.ts';

export interface ListingInit {
  /** How long to wait for an upstream's tag list or catalog before answering with local data only. */
  readonly timeoutMs: number;
}

/** Tags lists and the catalog: what is here merged with what the seed has. */
export class ListingService {
  readonly #store: Store;
  readonly #router: UpstreamRouter;
  readonly #logger: Logger;
  readonly #timeoutMs: number;

  constructor(store: Store, router: UpstreamRouter, logger: Logger, init: ListingInit) {
    this.#store = store;
    this.#router = router;
    this.#logger = logger;
    this.#timeoutMs = init.timeoutMs;
  }

  /**
   * Sorted, de-duplicated tags; undefined when the repository is unknown here and upstream. Unknown
   * here while an upstream could not be asked is no answer at all: UNAVAILABLE, not "no such name".
   */
  async tags(requested: string, ns?: string): Promise<string[] | undefined> {
    const name = this.#router.repository(requested, ns);
    const local = await this.#store.repositories.tags(name);
    const known = local.length > 0 || (await this.#store.repositories.exists(name));
    let failure: unknown;
    const remote = await Promise.all(
      this.#router.targets(name).map(({ upstream, remoteName }) =>
        upstream.listTags(remoteName, { timeoutMs: this.#timeoutMs }).catch((error: unknown) => {
          this.#logger.warn({ repository: name, upstream: upstream.url, err: error }, 'upstream tag list unavailable; listing local tags only');
          failure ??= error;
          return undefined;
        }),
      ),
    );
    if (!known && remote.every((r) => r === undefined)) {
      if (failure === undefined) return undefined;
      throw new OciError('UNAVAILABLE', `repository ${name} is not known here and the seed registry did not answer (${failure instanceof Error ? failure.message : String(failure)}); check the upstream and retry`, undefined, { cause: failure });
    }
    return mergeSorted([local, ...remote.filter((r): r is string[] => r !== undefined)]);
  }

  async catalog(): Promise<string[]> {
    const local = await this.#store.repositories.repositories();
    const remote = await Promise.all(
      this.#router.upstreams.map((upstream) =>
        upstream.catalog({ timeoutMs: this.#timeoutMs }).catch((error: unknown) => {
          this.#logger.warn({ upstream: upstream.url, err: error }, 'upstream catalog unavailable; listing local repositories only');
          return [];
        }),
      ),
    );
    return mergeSorted([local, ...remote]);
  }

  /** Manifests in `name` whose subject is `subject` (this host's only), for the referrers API. */
  referrers(name: string, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    return this.#store.manifests.referrers(name, subject, artifactType);
  }
}

export function mergeSorted(lists: readonly (readonly string[])[]): string[] {
  return [...new Set(lists.flat())].sort(compareLexical);
}

/** The spec's `n`/`last` pagination over a sorted list; `more` tells whether a Link is due. */
export function paginate(items: readonly string[], n: number | undefined, last: string | undefined): { page: string[]; more: boolean } {
  const start = last === undefined ? 0 : items.findIndex((item) => compareLexical(item, last) > 0);
  const from = start < 0 ? items.length : start;
  if (n === undefined) return { page: items.slice(from), more: false };
  const page = items.slice(from, from + n);
  return { page, more: from + n < items.length && n > 0 };
}
