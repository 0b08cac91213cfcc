// What `setup containerd` writes into hosts.toml so containerd's direct fallback to a seed over
// HTTPS trusts what shoal trusts: the same CA files, client certificate and skip-verify choice.
import type { ShoalConfig } from '../config/types.ts';
import { TlsConfigError, tlsFilesFor, type TlsFiles } from '../upstream/tls.ts';
import { SetupError } from './setup-files.ts';

/** The configured upstream's TLS files, as containerd should use them for that server. */
export function upstreamTlsFiles(config: ShoalConfig): (url: string) => TlsFiles | undefined {
  return (url) => {
    if (!url.startsWith('https:')) return undefined;
    try {
      return tlsFilesFor(url, config.upstreams.find((u) => u.url === url)?.tls, config.dockerCertsDir);
    } catch (error) {
      if (error instanceof TlsConfigError) throw new SetupError(`upstream ${url}: ${error.message}`);
      throw error;
    }
  };
}

/** hosts.toml's keys for the server itself: `ca`, `client` pairs and `skip_verify`. */
export function tlsLines(tls: TlsFiles | undefined): string[] {
  if (!tls) return [];
  return [
    ...(tls.caFiles.length > 0 ? [`ca = [${tls.caFiles.map((f) => JSON.stringify(f)).join(', ')}]`] : []),
    ...(tls.client ? [`client = [[${JSON.stringify(tls.client.cert)}, ${JSON.stringify(tls.client.key)}]]`] : []),
    ...(tls.skipVerify ? ['skip_verify = true'] : []),
  ];
}
