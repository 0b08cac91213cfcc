import type { UpstreamConfig } from '../upstream/types.ts';

// The upstream part owns its settings' shape; config re-exports them for the wiring code.
export type { UpstreamConfig, UpstreamCredentials, UpstreamTlsConfig } from '../upstream/types.ts';

/** The daemon's whole configuration, after flags, environment, file and defaults were merged and validated. */
export interface ShoalConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly dataDir: string;
  /** Tried in order for names that do not name a registry host. Empty: a standalone registry. */
  readonly upstreams: readonly UpstreamConfig[];
  /** Registry hosts besides the upstreams that clients may name; nothing else is ever contacted. */
  readonly allowedRegistries: readonly string[];
  /** Path of a docker config.json whose `auths` supply upstream credentials. */
  readonly dockerConfigPath: string | undefined;
  /** Timeout for a tag revalidation HEAD against the seed; past it the cached tag is served. */
  readonly tagTimeoutMs: number;
  /** Connect / first-byte timeout for upstream requests. */
  readonly upstreamTimeoutMs: number;
  /** Longest silence inside an upstream response body before the transfer is dropped (and resumed elsewhere). */
  readonly upstreamBodyTimeoutMs: number;
  /** docker's per-registry certificate folders: `<dir>/<host[:port]>/{ca.crt,*.crt,client.cert,client.key}`. */
  readonly dockerCertsDir: string;
  /** Largest accepted blob upload body in bytes (0 = no limit). */
  readonly maxUploadBytes: number;
  /** A plain-HTTP listener for /metrics only (metrics-listen); undefined: none. */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly swarm: SwarmConfig;
  readonly auth: AuthConfig;
  readonly disk: DiskConfig;
  readonly neighbour: NeighbourConfig;
}

/** Being a good neighbour on the LAN: bandwidth caps, bounded serving, lazy Range reads. */
export interface NeighbourConfig {
  /** Bytes per second; 0: unlimited. Read at start: a change needs a restart. */
  readonly uploadBytesPerSecond: number;
  readonly downloadBytesPerSecond: number;
  readonly seedBytesPerSecond: number;
  /** Piece requests served to peers at once; more are answered busy (503, Retry-After). */
  readonly maxPeerServes: number;
  /** What a Range GET of a missing blob fetches besides the covering pieces. */
  readonly rangeFetch: 'fetch-all' | 'range-only';
}

/** Who may do what on the registry API (src/http/auth.ts). */
export interface AuthConfig {
  /** bcrypt htpasswd file of the users; undefined: no users, every client is anonymous and may push. */
  readonly htpasswdPath: string | undefined;
  /** With an htpasswd file: who may pull without credentials. */
  readonly anonymousPull: 'loopback' | 'all' | 'none';
  /** The operator accepted a non-loopback listen address without an htpasswd file. */
  readonly allowInsecureListen: boolean;
}

/** Online eviction of least-recently-used pulled blobs (src/store/eviction.ts). */
export interface DiskConfig {
  /** Limit for the blobs of the data directory in bytes; 0: no limit, nothing is evicted. */
  readonly maxBytes: number;
  /** Percent of maxBytes at which eviction starts. */
  readonly highWatermarkPercent: number;
  /** Percent of maxBytes eviction brings the blobs down to. */
  readonly lowWatermarkPercent: number;
}

/** The peer-to-peer side: libp2p control plane and the HTTP data plane peers fetch blobs from. */
export interface SwarmConfig {
  /** False with --no-swarm: a plain single-node registry mirror. */
  readonly enabled: boolean;
  /** libp2p TCP port (0 = any free port). */
  readonly p2pPort: number;
  /** Data-plane HTTP port peers fetch blobs from (0 = any free port). */
  readonly peerPort: number;
  /** Address the p2p and peer ports bind to (default 0.0.0.0: every interface of the host). */
  readonly bindAddress: string;
  /** Address announced to peers when the host's own view is wrong (NAT, several interfaces). */
  readonly advertiseAddress: string | undefined;
  /** Multiaddrs dialled at start and kept connected (hosts in other subnets). */
  readonly bootstrap: readonly string[];
  /** Discover peers on the LAN with mDNS. */
  readonly mdns: boolean;
  /** Path of a cluster key file: only hosts holding the same key can connect or fetch. */
  readonly clusterKeyPath: string | undefined;
  /** Swarm connections kept at most (libp2p's connectionManager.maxConnections). */
  readonly maxPeerConnections: number;
  /** Hosts in a blob's owner committee, found with the DHT; 0: no DHT, owners among connected peers. */
  readonly ownerCommittee: number;
  /** Bytes per piece when blobs move between peers; the same on every host. */
  readonly pieceSize: number;
}
