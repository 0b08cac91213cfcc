import type { Readable } from 'node:stream';
import type { ByteRange, Digest } from '../oci/index.ts';

/** What the seed said about a manifest (HEAD or GET). */
export interface RemoteManifestInfo {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
}

export interface RemoteManifest extends RemoteManifestInfo {
  readonly body: Buffer;
}

export interface RemoteBlob {
  /** The whole blob's size (from Content-Length, or Content-Range's total on a 206). */
  readonly size: number;
  /** The range actually returned, when the upstream answered 206. */
  readonly range?: ByteRange;
  readonly stream: Readable;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  /** Overrides the client's default timeout for this request (connect + headers). */
  readonly timeoutMs?: number;
}

/**
 * A client for one upstream registry. Not-found answers resolve to undefined. Network errors,
 * timeouts and 5xx throw UpstreamUnavailableError; auth failures throw OciError UNAUTHORIZED or
 * DENIED; other unexpected answers throw UpstreamError carrying the status.
 */
export interface UpstreamRegistry {
  /** Base URL, e.g. `http://127.0.0.1:5001`. */
  readonly url: string;
  /** host[:port] as docker writes it in config.json and in image names. */
  readonly host: string;
  headManifest(repository: string, reference: string, accept: readonly string[], options?: RequestOptions): Promise<RemoteManifestInfo | undefined>;
  getManifest(repository: string, reference: string, accept: readonly string[], options?: RequestOptions): Promise<RemoteManifest | undefined>;
  /** The blob's size from a HEAD, or undefined when the upstream does not have it. */
  headBlob(repository: string, digest: Digest, options?: RequestOptions): Promise<number | undefined>;
  getBlob(repository: string, digest: Digest, range?: ByteRange, options?: RequestOptions): Promise<RemoteBlob | undefined>;
  /** All tags (following Link pagination), or undefined when the repository is unknown there. */
  listTags(repository: string, options?: RequestOptions): Promise<string[] | undefined>;
  /** The upstream catalog (following pagination); [] when the upstream does not offer one. */
  catalog(options?: RequestOptions): Promise<string[]>;
}

/** Where a client-visible repository name is fetched from: which upstream, under which remote name. */
export interface UpstreamTarget {
  readonly upstream: UpstreamRegistry;
  readonly remoteName: string;
}

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
  /** Trust and client identity beyond the system store and docker's certs.d folder for the host. */
  readonly tls?: UpstreamTlsConfig;
}

/** Per-upstream TLS settings: paths only; tls.ts reads the files. */
export interface UpstreamTlsConfig {
  /** PEM CA certificate(s) trusted for this upstream, on top of the system store and certs.d. */
  readonly caFile?: string;
  /** PEM client certificate and its key, for seeds that require one (mutual TLS). Both or neither. */
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
  /** The operator chose to accept any certificate: logged at start and shown on the status page. */
  readonly skipVerify?: boolean;
}
