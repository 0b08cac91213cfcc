// Which registry a client-visible name belongs to, and the one name everything about that
// repository is cached under (tags, repository links, swarm tag records):
//   the default upstream (the first configured one) keeps plain names, `library/nginx`, so a
//   registry:2 data directory is served in place; every other registry's repositories are stored
//   under `<host>/`, exactly as the path form `/v2/<host>/<repo>` names them.
// Only configured upstreams and allow-listed registries are registries at all: `?ns=` naming any
// other host is refused before anything is contacted, and a first path component that looks like a
// host (`team.a/app`) is simply part of a repository name on the default upstream.
import { MAX_NAME_LENGTH, OciError, parseRegistryHost, splitRegistryHost } from '../oci/index.ts';
import { normalizeRegistryHost } from './docker-credentials.ts';

/** The setting that allows more registries, named in refusals. */
export const ALLOW_SETTING = 'allowed-registries';

export interface RegistryRoute {
  /** undefined: the configured upstreams, in order */
  readonly host: string | undefined;
  /** the repository within that registry */
  readonly path: string;
}

export class RegistryNames {
  readonly #defaultHost: string | undefined;
  readonly #known: ReadonlySet<string>;

  /** `configuredHosts` in order (the first is the default upstream); `allowed` as the setting lists them. */
  constructor(configuredHosts: readonly string[], allowed: readonly string[] = []) {
    this.#defaultHost = configuredHosts[0] === undefined ? undefined : normalizeRegistryHost(configuredHosts[0]);
    this.#known = new Set([...configuredHosts, ...allowed].map(normalizeRegistryHost));
  }

  /** Whether requests may name this registry (host as a client writes it). */
  isKnown(host: string): boolean {
    return this.#known.has(normalizeRegistryHost(host));
  }

  /**
   * The cache key for `name` asked with containerd's `ns` (or none). The path form and the `ns`
   * form of one repository give the same key. Throws NAME_INVALID for an `ns` that is not a
   * host[:port], NAME_UNKNOWN for a registry this node may not contact.
   */
  repository(name: string, ns?: string): string {
    if (ns === undefined || ns === '') {
      const route = this.route(name);
      return route.host === undefined ? name : this.#key(route.host, route.path);
    }
    const host = normalizeRegistryHost(parseRegistryHost(ns));
    if (!this.#known.has(host)) {
      throw new OciError(
        'NAME_UNKNOWN',
        `registry ${host} is not mirrored by this node: only configured upstreams and registries in the ${ALLOW_SETTING} setting are contacted; add ${host} there to pull through it`,
        { ns: host },
      );
    }
    return this.#key(host, name);
  }

  /** Where a cache key (or a plain client name) is fetched from. Never throws. */
  route(name: string): RegistryRoute {
    const split = splitRegistryHost(name);
    if (split.host === undefined) return { host: undefined, path: name };
    const host = normalizeRegistryHost(split.host);
    return this.#known.has(host) ? { host, path: split.path } : { host: undefined, path: name };
  }

  /**
   * The name tag records carry in the swarm: the registry always spelled out, the first upstream's
   * too, so hosts whose first upstreams differ never take each other's tags. A standalone node's
   * names stay plain (its tags are the swarm's own). Kept to the protocol's 255 characters.
   */
  qualifiedName(repository: string): string {
    if (this.#defaultHost === undefined || this.route(repository).host !== undefined) return repository;
    const qualified = `${this.#defaultHost}/${repository}`;
    return qualified.length <= MAX_NAME_LENGTH ? qualified : repository;
  }

  #key(host: string, path: string): string {
    return host === this.#defaultHost ? path : `${host}/${path}`;
  }
}
