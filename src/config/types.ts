/** Credentials for one upstream registry. */
export interface UpstreamCredentials {
  readonly username: string;
  readonly password: string;
}

export interface UpstreamConfig {
  /** Base URL such as `http://192.168.64.150:5000` or `https://registry-1.docker.io`. */
  readonly url: string;
  /** Explicit credentials; when absent, ~/.docker/config.json auths for the host are used if present. */
  readonly credentials?: UpstreamCredentials;
}

/** The daemon's whole configuration, after flags, environment, file and defaults were merged and validated. */
export interface ShoalConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly dataDir: string;
  /** Tried in order for names that do not name a registry host. Empty: a standalone registry. */
  readonly upstreams: readonly UpstreamConfig[];
  /** Path of a docker config.json whose `auths` supply upstream credentials. */
  readonly dockerConfigPath: string | undefined;
  /** Timeout for a tag revalidation HEAD against the seed; past it the cached tag is served. */
  readonly tagTimeoutMs: number;
  /** Connect / first-byte timeout for upstream requests. */
  readonly upstreamTimeoutMs: number;
  /** Largest accepted blob upload body in bytes (0 = no limit). */
  readonly maxUploadBytes: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}
