// Upstream clients with their TLS settings, for the daemon's UpstreamSet.
import type { UpstreamConfig } from './types.ts';
import { RegistryClient, type RegistryClientInit } from './registry-client.ts';

/**
 * UpstreamSet's client factory with TLS: each configured upstream gets its own settings, every
 * client (registries named ad hoc too) the system store and docker's certs.d folder.
 */
export function clientFactoryWithTls(upstreams: readonly UpstreamConfig[], certsDir: string): (init: RegistryClientInit) => RegistryClient {
  return (init) => {
    const tls = upstreams.find((upstream) => upstream.url === init.url)?.tls;
    return new RegistryClient({ ...init, certsDir, ...(tls ? { tls } : {}) });
  };
}

/** The configured https:// upstreams whose certificates are not checked, for the start-up warning and the status page. */
export function unverifiedUpstreams(upstreams: readonly UpstreamConfig[]): string[] {
  return upstreams.filter((upstream) => upstream.tls?.skipVerify === true && isHttps(upstream)).map((upstream) => upstream.url);
}

/** The configured http:// upstreams given TLS settings, which plain HTTP never uses: said at start-up. */
export function tlsSettingsUnused(upstreams: readonly UpstreamConfig[]): string[] {
  return upstreams.filter((upstream) => !isHttps(upstream) && upstream.tls !== undefined && Object.values(upstream.tls).some((value) => value !== undefined && value !== false)).map((upstream) => upstream.url);
}

const isHttps = (upstream: UpstreamConfig): boolean => upstream.url.startsWith('https://');
