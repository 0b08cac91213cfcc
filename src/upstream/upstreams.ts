// Which upstream(s) serve a client-visible repository name, and under which remote name.
//   nginx, team/app, team.a/app → every configured upstream in order (Docker Hub: library/nginx)
//   registry.example.com/x/y, host:5000/z    → that registry, when it is a configured upstream or allowed
//                                 (allowed ones get a client made once and kept); otherwise the
//                                 whole name is a repository on the configured upstreams
//   ?ns=host (containerd)       → that registry for the whole name, when configured or allowed;
//                                 otherwise NAME_UNKNOWN, and nothing is contacted
// The naming rules and cache keys: registry-names.ts.
import type { UpstreamConfig, UpstreamCredentials, UpstreamRegistry, UpstreamTarget } from './types.ts';
import { DockerCredentials, isDockerHubHost, loadDockerCredentials, normalizeRegistryHost } from './docker-credentials.ts';
import { HealthTracker, TrackedUpstream, type UpstreamHealth } from './health.ts';
import { RegistryClient, registryHostOf, type RegistryClientInit } from './registry-client.ts';
import { RegistryNames } from './registry-names.ts';
import { hostOfAuthority } from '../lib/host-port.ts';
import { isLoopback } from '../lib/loopback.ts';

export const DOCKER_HUB_URL = 'https://registry-1.docker.io';

export interface UpstreamSetInit {
  /** Connect + response-headers timeout for upstream requests (config's upstreamTimeoutMs). */
  readonly upstreamTimeoutMs?: number;
  /** Longest pause inside a response body. */
  readonly bodyIdleTimeoutMs?: number;
  /** docker config.json whose `auths` give credentials to upstreams configured without any, and to ad-hoc registries. */
  readonly dockerConfigPath?: string;
  /** Already-loaded credentials; wins over dockerConfigPath. */
  readonly dockerCredentials?: DockerCredentials;
  /** Registries besides the configured upstreams that clients may name (host[:port]); no others are ever contacted. */
  readonly allowedRegistries?: readonly string[];
  /** Hosts reached over plain http when named ad hoc (loopback hosts always are). */
  readonly insecureRegistries?: readonly string[];
  /** Consecutive failures before an upstream is skipped, and for how long. */
  readonly maxFails?: number;
  readonly failTimeoutMs?: number;
  readonly userAgent?: string;
  readonly onHealthChange?: (url: string, state: 'up' | 'down', lastError: string | undefined) => void;
  /** Makes the client for one upstream; tests swap it. */
  readonly createClient?: (init: RegistryClientInit) => UpstreamRegistry;
  readonly now?: () => number;
}

export class UpstreamSet {
  readonly #init: UpstreamSetInit;
  readonly #credentials: DockerCredentials;
  readonly #tracker: HealthTracker;
  readonly #configured: TrackedUpstream[];
  readonly #byHost = new Map<string, TrackedUpstream>();
  readonly #adHoc = new Map<string, TrackedUpstream>();
  readonly #insecure: ReadonlySet<string>;
  readonly #names: RegistryNames;

  constructor(upstreams: readonly UpstreamConfig[], init: UpstreamSetInit = {}) {
    this.#init = init;
    this.#credentials = init.dockerCredentials ?? loadDockerCredentials(init.dockerConfigPath);
    this.#insecure = new Set((init.insecureRegistries ?? []).map(normalizeRegistryHost));
    this.#tracker = new HealthTracker({
      ...(init.maxFails !== undefined ? { maxFails: init.maxFails } : {}),
      ...(init.failTimeoutMs !== undefined ? { failTimeoutMs: init.failTimeoutMs } : {}),
      ...(init.now ? { now: init.now } : {}),
      ...(init.onHealthChange ? { onChange: init.onHealthChange } : {}),
    });
    this.#configured = upstreams.map((config) => this.#create(config.url, config.credentials));
    for (const upstream of this.#configured) {
      if (!this.#byHost.has(upstream.host)) this.#byHost.set(upstream.host, upstream);
    }
    this.#names = new RegistryNames(this.#configured.map((u) => u.host), init.allowedRegistries);
  }

  /** Docker credential helpers that could not be asked, or failed, when the docker config was read: for the daemon's log. */
  get dockerCredentialProblems(): readonly string[] {
    return this.#credentials.problems;
  }

  /** The name `name` (asked with containerd's `ns`) is cached under; throws for a registry not configured or allowed. */
  repository(name: string, ns?: string): string {
    return this.#names.repository(name, ns);
  }

  /** The name a cached repository's tags carry in the swarm (see RegistryNames.qualifiedName). */
  qualifiedName(repository: string): string {
    return this.#names.qualifiedName(repository);
  }

  /** The configured upstreams, in order. */
  get upstreams(): readonly UpstreamRegistry[] {
    return this.#configured;
  }

  /**
   * What to try, in order, for a client-visible repository name. Upstreams marked down are left
   * out unless all are, in which case they are returned and fail fast with UpstreamUnavailableError.
   */
  targets(name: string, ns?: string): UpstreamTarget[] {
    const { host, path } = this.#names.route(this.#names.repository(name, ns));
    const candidates = host === undefined ? this.#configured : [this.#byHost.get(host) ?? this.#adHocFor(host)];
    const live = candidates.filter((upstream) => !this.#tracker.isDown(upstream.url));
    return (live.length > 0 ? live : candidates).flatMap((upstream) => {
      const name = remoteName(upstream.host, path);
      const bare = officialImageFallback(upstream.host, name);
      return bare === undefined ? [{ upstream, remoteName: name }] : [{ upstream, remoteName: name }, { upstream, remoteName: bare }];
    });
  }

  /** Each upstream's state (configured and ad-hoc ones used so far), for status pages. */
  health(): Array<UpstreamHealth & { host: string; configured: boolean }> {
    const all = [...this.#configured, ...this.#adHoc.values()];
    return this.#tracker.health().map((h) => ({
      ...h,
      host: all.find((u) => u.url === h.url)?.host ?? h.url,
      configured: this.#configured.some((u) => u.url === h.url),
    }));
  }

  async close(): Promise<void> {
    const all = [...this.#configured, ...this.#adHoc.values()];
    await Promise.all(all.map((u) => (u.inner as { close?: () => Promise<void> }).close?.()));
  }

  #adHocFor(host: string): TrackedUpstream {
    let upstream = this.#adHoc.get(host);
    if (!upstream) {
      const scheme = isLoopbackHost(host) || this.#insecure.has(host) ? 'http' : 'https';
      upstream = this.#create(host === 'docker.io' ? DOCKER_HUB_URL : `${scheme}://${host}`, undefined);
      this.#adHoc.set(host, upstream);
    }
    return upstream;
  }

  #create(url: string, explicit: UpstreamCredentials | undefined): TrackedUpstream {
    const fromDocker = explicit ? undefined : this.#credentials.lookup(registryHostOf(url));
    const credentials = explicit ?? fromDocker;
    const source = explicit ? 'the shoal config' : this.#credentials.source;
    const init: RegistryClientInit = {
      url,
      ...(credentials ? { credentials } : {}),
      ...(source ? { credentialsSource: source } : {}),
      ...(this.#init.upstreamTimeoutMs !== undefined ? { timeoutMs: this.#init.upstreamTimeoutMs } : {}),
      ...(this.#init.bodyIdleTimeoutMs !== undefined ? { bodyIdleTimeoutMs: this.#init.bodyIdleTimeoutMs } : {}),
      ...(this.#init.userAgent !== undefined ? { userAgent: this.#init.userAgent } : {}),
    };
    const client = this.#init.createClient ? this.#init.createClient(init) : new RegistryClient(init);
    return new TrackedUpstream(client, this.#tracker);
  }
}

/** The name to ask an upstream for: Docker Hub keeps official images under `library/`. */
export function remoteName(host: string, path: string): string {
  return isDockerHubHost(host) && !path.includes('/') ? `library/${path}` : path;
}

/**
 * A Docker Hub official image's name asked of a registry that is not Docker Hub, without its
 * `library/`: docker, with shoal as its registry mirror, asks for `library/nginx` when a user types
 * `nginx`, while a private seed (registry:2 on sjq-20, a Nexus hosted repository) holds it as
 * `nginx`, as the users' guide pushes it. Tried after the name as asked; undefined when there is
 * nothing else to try.
 */
export function officialImageFallback(host: string, name: string): string | undefined {
  if (isDockerHubHost(host)) return undefined;
  const match = /^library\/([^/]+)$/.exec(name);
  return match?.[1];
}

/** localhost, 127.0.0.0/8 and ::1, with or without a port: reached over http, as docker does. */
export function isLoopbackHost(host: string): boolean {
  return isLoopback(hostOfAuthority(host));
}
