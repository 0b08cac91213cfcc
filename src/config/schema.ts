// The one table of shoal's settings. Flags, environment variables, YAML keys, defaults, `--help`
// and the README's configuration reference are all derived from it, so they cannot disagree.
// Longer than 300 lines on purpose: one entry per setting; split up, defaults would be written
// in one place and documented in another.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BOOTSTRAP_EXAMPLE, InvalidValueError, formatSize, parseAdvertiseAddress, parseAnonymousPull, parseBoolean, parseDuration, parseHostPort, parseIpAddress, parseLogLevel,
  parsePercent, parsePortOrZero, parseSize, parseUpstreamUrl, resolvePath, type AnonymousPull, type HostPort, type LogLevel,
} from './parse.ts';
import { DEFAULT_PIECE_SIZE as DEFAULT_PIECE_BYTES } from '../distribute/piece-size.ts';
import { DEFAULT_DOCKER_CERTS_DIR } from '../upstream/tls.ts';
import { parseRegistryHost } from '../oci/name.ts';
import { parseRangeFetch, parseRate, parseServeLimit, type RangeFetch } from './rate.ts';
import { DEFAULT_MAX_PEER_SERVES } from '../distribute/serve-slots.ts';
import { DEFAULT_COMMITTEE_SIZE } from '../swarm/committee.ts';
import { unreadableReason } from '../lib/fs-errors.ts';

export interface SettingContext {
  /** Relative paths resolve against this: the working directory for flags, environment and
   *  defaults; the config file's own folder for values written in it (so it can move as a unit). */
  readonly baseDir: string;
  readonly homedir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface Setting<T> {
  /** Name in messages and docs, the flag without its dashes: `data-dir`. */
  readonly name: string;
  /** Commander flag spec: `--data-dir <dir>`. */
  readonly flag: string;
  readonly env: string;
  /** Dotted YAML paths; `upstreams[].x` is a key of each entry of the `upstreams:` list. */
  readonly yaml: readonly string[];
  /** The default as text, parsed like any other input; undefined: no default. */
  readonly defaultRaw: (context: SettingContext) => string | undefined;
  /** The default as the docs state it. */
  readonly defaultText: string;
  readonly description: string;
  /** May be given several times; its environment variable is comma-separated. */
  readonly repeatable: boolean;
  /** Never echoed: not in error messages, not in `shoal config` output. */
  readonly secret: boolean;
  readonly parse: (raw: string, context: SettingContext) => T;
  /**
   * Validation beyond `parse` that needs heavy modules (libp2p's) or file contents; throws
   * InvalidValueError like `parse`. The loader awaits it for every parsed value. It imports what
   * it needs itself, so `--help` and configurations that leave the setting unset load none of it.
   * (Method syntax: it keeps every Setting<T> usable as a Setting<unknown>.)
   */
  check?(value: T, context: SettingContext): Promise<void>;
}

export const DEFAULT_LISTEN = '127.0.0.1:5000';
/**
 * `./data`, resolved against the working directory at start-up (`shoal config` and the start-up
 * log show the absolute path). Chosen because it is predictable: the same for root and for users,
 * with no XDG or uid rules to explain; with `npm start` it is the repository's gitignored `data/`.
 * Services should pass --data-dir (e.g. /var/lib/shoal) rather than depend on their cwd.
 */
export const DEFAULT_DATA_DIR = './data';
export const DEFAULT_TAG_TIMEOUT = '2s';
export const DEFAULT_UPSTREAM_TIMEOUT = '30s';
/**
 * A seed that goes silent mid-body holds every client waiting on that blob; past this the transfer
 * is dropped and the fetch engine resumes the bytes (Range) from the seed or a peer. Seeds that
 * are merely slow still send something every few seconds.
 */
export const DEFAULT_UPSTREAM_BODY_TIMEOUT = '20s';
/** `0`: no limit; layers of several GB are ordinary. */
export const DEFAULT_MAX_UPLOAD_SIZE = '0';
/** Why 4 MiB: src/distribute/piece-size.ts (measured with bench/fanout.bench.ts). */
export const DEFAULT_PIECE_SIZE = formatSize(DEFAULT_PIECE_BYTES);
const MIN_PIECE_BYTES = 64 * 1024;
const MAX_PIECE_BYTES = 64 * 1024 * 1024;

function parsePieceSize(raw: string): number {
  const bytes = parseSize(raw);
  if (bytes < MIN_PIECE_BYTES || bytes > MAX_PIECE_BYTES) throw new InvalidValueError(`expected a size from 64KiB to 64MiB, such as 4MiB`);
  return bytes;
}

export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
export const DEFAULT_ANONYMOUS_PULL: AnonymousPull = 'loopback';
/** `0`: never evict. */
export const DEFAULT_MAX_DISK_USAGE = '0';
export const DEFAULT_DISK_HIGH_WATERMARK = '90%';
export const DEFAULT_DISK_LOW_WATERMARK = '80%';
export const DEFAULT_P2P_PORT = '5001';
export const DEFAULT_PEER_PORT = '5002';
export const DEFAULT_BIND_ADDRESS = '0.0.0.0';
/**
 * Why 64: the swarm is a full mesh, and libp2p counts connections, not peers (two hosts that dial
 * each other at once may keep both: 35-50 connections for 31 peers measured by bench/scale), so
 * clusters of up to about 32 hosts keep every member in view (piece owners agreed by all, seed
 * sends each piece about once); bigger ones trade that for bounded per-host cost (bench/scale:
 * what a cap does to seed egress at 128 and 1,000 hosts).
 */
/**
 * libp2p's own default, which shoal ran with before the setting: a cap below twice the host count
 * breaks owner agreement (bench:scale: 3.1x seed egress for 128 hosts under 64) until owners come
 * from a view every host shares.
 */
export const DEFAULT_MAX_PEER_CONNECTIONS = '300';
/**
 * Off by default: a swarm within max-peer-connections is a full mesh where every host already
 * agrees on owners, and with the DHT running 32 in-process hosts took over 60 s to mesh instead
 * of ~27 s (not yet explained). Swarms larger than the connection cap turn it on (README, Large clusters).
 */
export const DEFAULT_OWNER_COMMITTEE = '0';
const MAX_OWNER_COMMITTEE = 1_000;

function parseConnectionLimit(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1 || n > 100_000) throw new InvalidValueError('expected a whole number of connections from 1 to 100000');
  return n;
}
function parseOwnerCommittee(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > MAX_OWNER_COMMITTEE) throw new InvalidValueError(`expected a whole number of hosts from 0 (off) to ${MAX_OWNER_COMMITTEE}, such as ${DEFAULT_COMMITTEE_SIZE}`);
  return n;
}
export const DEFAULT_DOCKER_CONFIG_TEXT = '`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, if that file exists';

/** Where docker itself reads credentials from, when that file exists; docker ignores ~/.docker when DOCKER_CONFIG is set, and so do we. */
export function defaultDockerConfigPath(context: SettingContext): string | undefined {
  const dockerConfigDir = context.env['DOCKER_CONFIG'];
  const path = dockerConfigDir ? join(dockerConfigDir, 'config.json') : join(context.homedir, '.docker', 'config.json');
  return existsSync(path) ? path : undefined;
}

function existingFile(raw: string, context: SettingContext): string {
  const path = resolvePath(raw, context.baseDir, context.homedir);
  if (!existsSync(path)) throw new InvalidValueError(`expected an existing file; ${path} does not exist`);
  return path;
}

/** Secrets come from a file so they stay out of argv (`ps`) and the environment; trailing newlines are not part of them. */
function readPasswordFile(raw: string, context: SettingContext): string {
  const path = resolvePath(raw, context.baseDir, context.homedir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new InvalidValueError(`expected a readable file holding the password; cannot read ${path} (${unreadableReason(path, error)})`);
  }
  const password = text.trim();
  if (password === '') throw new InvalidValueError(`expected a file holding the password; ${path} is empty`);
  return password;
}

function nonEmpty(what: string): (raw: string) => string {
  return (raw) => {
    if (raw === '') throw new InvalidValueError(`expected a non-empty ${what}`);
    return raw;
  };
}

/**
 * Parsed in the loader, not only in the daemon: a wrong file (a truncated copy, the peer identity
 * key, a key from another cluster's format) is an operator mistake, so it fails `shoal config` and
 * start-up with exit 2 and the setting named, before any port is bound. The daemon reads it again
 * for the bytes; the loader keeps only the path.
 */
async function checkClusterKey(path: string): Promise<void> {
  const { loadClusterKey } = await import('../swarm/cluster-key.ts');
  try {
    await loadClusterKey(path);
  } catch (error) {
    throw new InvalidValueError(`expected a cluster key file as shoal keygen writes it; ${(error as Error).message}`);
  }
}

/** Read and parsed in the loader, so a missing file, a non-bcrypt hash or an empty file stops start-up (exit 2). */
async function checkHtpasswd(path: string): Promise<void> {
  const { loadHtpasswd } = await import('../http/htpasswd.ts');
  try {
    await loadHtpasswd(path);
  } catch (error) {
    throw new InvalidValueError(`expected an htpasswd file with bcrypt hashes (htpasswd -B); ${(error as Error).message}`);
  }
}

async function checkBootstrap(address: string): Promise<void> {
  const { checkBootstrapAddress } = await import('./bootstrap-address.ts');
  checkBootstrapAddress(address);
}

/** A multiaddr's shape, enough for parse; checkBootstrap does the rest. */
function bootstrapText(raw: string): string {
  if (!raw.startsWith('/')) throw new InvalidValueError(`expected a multiaddr such as ${BOOTSTRAP_EXAMPLE}`);
  return raw;
}

function parseAllowedRegistry(raw: string): string {
  try {
    return parseRegistryHost(raw.trim());
  } catch {
    throw new InvalidValueError('expected a registry host[:port] such as registry.example.com or 10.0.0.5:5000, without a scheme or path');
  }
}

const none = (): undefined => undefined;
const constant = (raw: string) => (): string => raw;

function setting<T>(spec: Omit<Setting<T>, 'repeatable' | 'secret'> & { repeatable?: boolean; secret?: boolean }): Setting<T> {
  return { repeatable: false, secret: false, ...spec };
}

/** Keyed by commander's attribute name for the flag (`--data-dir` → `dataDir`). Order is the order of `--help` and the docs. */
export const SETTINGS = {
  config: setting<string>({
    name: 'config', flag: '--config <file>', env: 'SHOAL_CONFIG', yaml: [],
    defaultRaw: none, defaultText: 'none', parse: (raw, context) => resolvePath(raw, context.baseDir, context.homedir),
    description: 'YAML config file to read; its keys are named with each setting',
  }),
  listen: setting<HostPort>({
    name: 'listen', flag: '--listen <host:port>', env: 'SHOAL_LISTEN', yaml: ['http.addr'],
    defaultRaw: constant(DEFAULT_LISTEN), defaultText: DEFAULT_LISTEN, parse: parseHostPort,
    description: 'Address of the registry API that docker pulls from',
  }),
  dataDir: setting<string>({
    name: 'data-dir', flag: '--data-dir <dir>', env: 'SHOAL_DATA_DIR', yaml: ['storage.filesystem.rootdirectory'],
    defaultRaw: constant(DEFAULT_DATA_DIR), defaultText: `${DEFAULT_DATA_DIR} (in the working directory)`,
    parse: (raw, context) => resolvePath(raw, context.baseDir, context.homedir),
    description: 'Storage root in registry:2\'s filesystem layout; a registry:2 rootdirectory is served in place',
  }),
  upstream: setting<string>({
    name: 'upstream', flag: '--upstream <url>', env: 'SHOAL_UPSTREAM', yaml: ['proxy.remoteurl', 'upstreams[].url'],
    defaultRaw: none, defaultText: 'none (a standalone registry)', parse: parseUpstreamUrl, repeatable: true,
    description: 'Seed registry URL; repeat for several, tried in order',
  }),
  upstreamUsername: setting<string>({
    name: 'upstream-username', flag: '--upstream-username <name>', env: 'SHOAL_UPSTREAM_USERNAME',
    yaml: ['proxy.username', 'upstreams[].username'], defaultRaw: none, defaultText: 'none', parse: nonEmpty('user name'),
    description: 'User name for the first upstream',
  }),
  upstreamPassword: setting<string>({
    name: 'upstream-password', flag: '--upstream-password <password>', env: 'SHOAL_UPSTREAM_PASSWORD',
    yaml: ['proxy.password', 'upstreams[].password'], defaultRaw: none, defaultText: 'none', parse: nonEmpty('password'), secret: true,
    description: 'Password or token for the first upstream; prefer the password file',
  }),
  upstreamPasswordFile: setting<string>({
    name: 'upstream-password-file', flag: '--upstream-password-file <file>', env: 'SHOAL_UPSTREAM_PASSWORD_FILE',
    yaml: ['proxy.passwordfile', 'upstreams[].passwordfile'], defaultRaw: none, defaultText: 'none', parse: readPasswordFile,
    description: 'File holding the first upstream\'s password, surrounding whitespace trimmed',
  }),
  upstreamCa: setting<string>({
    name: 'upstream-ca', flag: '--upstream-ca <file>', env: 'SHOAL_UPSTREAM_CA',
    yaml: ['proxy.ca', 'upstreams[].ca'], defaultRaw: none, defaultText: 'none (the system CA store and docker-certs-dir)', parse: existingFile,
    description: 'PEM file of CA certificates trusted for the first upstream, besides the system store',
  }),
  upstreamClientCert: setting<string>({
    name: 'upstream-client-cert', flag: '--upstream-client-cert <file>', env: 'SHOAL_UPSTREAM_CLIENT_CERT',
    yaml: ['proxy.clientcert', 'upstreams[].clientcert'], defaultRaw: none, defaultText: 'none (client.cert in docker-certs-dir, if any)', parse: existingFile,
    description: 'PEM client certificate for the first upstream, for seeds that require one (mutual TLS); needs upstream-client-key',
  }),
  upstreamClientKey: setting<string>({
    name: 'upstream-client-key', flag: '--upstream-client-key <file>', env: 'SHOAL_UPSTREAM_CLIENT_KEY',
    yaml: ['proxy.clientkey', 'upstreams[].clientkey'], defaultRaw: none, defaultText: 'none (client.key in docker-certs-dir, if any)', parse: existingFile,
    description: 'PEM private key of upstream-client-cert',
  }),
  upstreamSkipVerify: setting<boolean>({
    name: 'upstream-skip-verify', flag: '--upstream-skip-verify', env: 'SHOAL_UPSTREAM_SKIP_VERIFY',
    yaml: ['proxy.skipverify', 'upstreams[].skipverify'], defaultRaw: constant('false'), defaultText: 'false', parse: parseBoolean,
    description: 'Accept any certificate from the first upstream (no verification): anyone on the path can serve images; warned at start and on the status page',
  }),
  dockerCertsDir: setting<string>({
    name: 'docker-certs-dir', flag: '--docker-certs-dir <dir>', env: 'SHOAL_DOCKER_CERTS_DIR', yaml: ['proxy.dockercertsdir'],
    defaultRaw: constant(DEFAULT_DOCKER_CERTS_DIR), defaultText: DEFAULT_DOCKER_CERTS_DIR,
    parse: (raw, context) => resolvePath(raw, context.baseDir, context.homedir),
    description: 'docker\'s certificate folders: `<dir>/<host[:port]>/` holds ca.crt and other *.crt (trusted CAs) and client.cert/client.key for that registry',
  }),
  dockerConfig: setting<string>({
    name: 'docker-config', flag: '--docker-config <file>', env: 'SHOAL_DOCKER_CONFIG', yaml: ['proxy.dockerconfig'],
    defaultRaw: defaultDockerConfigPath, defaultText: DEFAULT_DOCKER_CONFIG_TEXT, parse: existingFile,
    description: 'docker config.json whose `auths` give credentials for upstreams without explicit ones; a credential helper it names (`credsStore`, `credHelpers`: `docker-credential-<name>` on PATH) is asked once at start, as docker asks it (at most 10 s a call, 30 s in all); one missing or failing is a warning in the log and in `shoal doctor`',
  }),
  allowedRegistries: setting<string>({
    name: 'allowed-registries', flag: '--allowed-registries <host>', env: 'SHOAL_ALLOWED_REGISTRIES', yaml: ['proxy.allowedregistries'],
    defaultRaw: none, defaultText: 'none (only the upstreams are contacted)', parse: parseAllowedRegistry, repeatable: true,
    description: 'Registry host[:port] besides the upstreams that clients may pull through by naming it (`localhost:5000/registry.example.com/x`, containerd\'s `?ns=registry.example.com`); repeat for several. No other address is ever contacted',
  }),
  tagTimeout: setting<number>({
    name: 'tag-timeout', flag: '--tag-timeout <duration>', env: 'SHOAL_TAG_TIMEOUT', yaml: ['proxy.tagtimeout'],
    defaultRaw: constant(DEFAULT_TAG_TIMEOUT), defaultText: DEFAULT_TAG_TIMEOUT, parse: parseDuration,
    description: 'How long to wait for the seed to confirm a tag before serving the cached one',
  }),
  upstreamTimeout: setting<number>({
    name: 'upstream-timeout', flag: '--upstream-timeout <duration>', env: 'SHOAL_UPSTREAM_TIMEOUT', yaml: ['proxy.timeout'],
    defaultRaw: constant(DEFAULT_UPSTREAM_TIMEOUT), defaultText: DEFAULT_UPSTREAM_TIMEOUT, parse: parseDuration,
    description: 'Connect and first-byte timeout of upstream requests',
  }),
  upstreamBodyTimeout: setting<number>({
    name: 'upstream-body-timeout', flag: '--upstream-body-timeout <duration>', env: 'SHOAL_UPSTREAM_BODY_TIMEOUT', yaml: ['proxy.bodytimeout'],
    defaultRaw: constant(DEFAULT_UPSTREAM_BODY_TIMEOUT), defaultText: DEFAULT_UPSTREAM_BODY_TIMEOUT, parse: parseDuration,
    description: 'Longest silence inside an upstream response body; past it the transfer is dropped and resumed from the seed or a peer',
  }),
  maxUploadSize: setting<number>({
    name: 'max-upload-size', flag: '--max-upload-size <size>', env: 'SHOAL_MAX_UPLOAD_SIZE', yaml: ['http.maxuploadsize'],
    defaultRaw: constant(DEFAULT_MAX_UPLOAD_SIZE), defaultText: `${DEFAULT_MAX_UPLOAD_SIZE} (no limit)`, parse: parseSize,
    description: 'Largest blob upload accepted, e.g. 10GiB; 0 means no limit',
  }),
  htpasswd: setting<string>({
    name: 'htpasswd', flag: '--htpasswd <file>', env: 'SHOAL_HTPASSWD', yaml: ['auth.htpasswd.path'],
    defaultRaw: none, defaultText: 'none (no users: pushes are open to whoever reaches the listen address)',
    parse: (raw, context) => resolvePath(raw, context.baseDir, context.homedir), check: checkHtpasswd,
    description: 'htpasswd file (bcrypt, `htpasswd -B`) of the users who may push and delete (docker login); re-read when it changes',
  }),
  anonymousPull: setting<AnonymousPull>({
    name: 'anonymous-pull', flag: '--anonymous-pull <who>', env: 'SHOAL_ANONYMOUS_PULL', yaml: ['auth.anonymouspull'],
    defaultRaw: constant(DEFAULT_ANONYMOUS_PULL), defaultText: `${DEFAULT_ANONYMOUS_PULL} (clients on this host)`, parse: parseAnonymousPull,
    description: 'With an htpasswd file: who may pull without logging in: loopback (clients on this host), all, or none',
  }),
  allowInsecureListen: setting<boolean>({
    name: 'allow-insecure-listen', flag: '--allow-insecure-listen', env: 'SHOAL_ALLOW_INSECURE_LISTEN', yaml: ['auth.allowinsecurelisten'],
    defaultRaw: constant('false'), defaultText: 'false', parse: parseBoolean,
    description: 'Allow a listen address other hosts can reach without an htpasswd file: anyone who reaches it can push and delete',
  }),
  maxDiskUsage: setting<number>({
    name: 'max-disk-usage', flag: '--max-disk-usage <size>', env: 'SHOAL_MAX_DISK_USAGE', yaml: ['storage.maxdiskusage'],
    defaultRaw: constant(DEFAULT_MAX_DISK_USAGE), defaultText: `${DEFAULT_MAX_DISK_USAGE} (no limit, nothing is evicted)`, parse: parseSize,
    description: 'Size limit for the blobs in the data directory, e.g. 200GiB: past the high watermark, least-recently-used pulled blobs are evicted down to the low one',
  }),
  diskHighWatermark: setting<number>({
    name: 'disk-high-watermark', flag: '--disk-high-watermark <percent>', env: 'SHOAL_DISK_HIGH_WATERMARK', yaml: ['storage.diskhighwatermark'],
    defaultRaw: constant(DEFAULT_DISK_HIGH_WATERMARK), defaultText: DEFAULT_DISK_HIGH_WATERMARK, parse: parsePercent,
    description: 'Share of max-disk-usage at which eviction starts',
  }),
  diskLowWatermark: setting<number>({
    name: 'disk-low-watermark', flag: '--disk-low-watermark <percent>', env: 'SHOAL_DISK_LOW_WATERMARK', yaml: ['storage.disklowwatermark'],
    defaultRaw: constant(DEFAULT_DISK_LOW_WATERMARK), defaultText: DEFAULT_DISK_LOW_WATERMARK, parse: parsePercent,
    description: 'Share of max-disk-usage that eviction brings the blobs down to; below the high watermark',
  }),
  metricsListen: setting<HostPort>({
    name: 'metrics-listen', flag: '--metrics-listen <host:port>', env: 'SHOAL_METRICS_LISTEN', yaml: ['http.metricsaddr'],
    defaultRaw: none, defaultText: 'none (metrics on the peer port; with a cluster key for key holders only)', parse: parseHostPort,
    description: 'Address of a plain-HTTP listener serving only /metrics, for Prometheus; whoever reaches it can read them',
  }),
  logLevel: setting<LogLevel>({
    name: 'log-level', flag: '--log-level <level>', env: 'SHOAL_LOG_LEVEL', yaml: ['log.level'],
    defaultRaw: constant(DEFAULT_LOG_LEVEL), defaultText: DEFAULT_LOG_LEVEL, parse: parseLogLevel,
    description: 'fatal, error, warn, info, debug, trace or silent',
  }),
  swarm: setting<boolean>({
    name: 'swarm', flag: '--no-swarm', env: 'SHOAL_SWARM', yaml: ['swarm.enabled'],
    defaultRaw: constant('true'), defaultText: 'true (swarm on)', parse: parseBoolean,
    description: 'Share with peers on the LAN; --no-swarm (or false) runs a plain single-node mirror',
  }),
  p2pPort: setting<number>({
    name: 'p2p-port', flag: '--p2p-port <port>', env: 'SHOAL_P2P_PORT', yaml: ['swarm.p2pport'],
    defaultRaw: constant(DEFAULT_P2P_PORT), defaultText: DEFAULT_P2P_PORT, parse: parsePortOrZero,
    description: 'TCP port of the libp2p control plane (discovery, announcements); 0 = any free port',
  }),
  peerPort: setting<number>({
    name: 'peer-port', flag: '--peer-port <port>', env: 'SHOAL_PEER_PORT', yaml: ['swarm.peerport'],
    defaultRaw: constant(DEFAULT_PEER_PORT), defaultText: DEFAULT_PEER_PORT, parse: parsePortOrZero,
    description: 'HTTP port peers fetch blobs from; 0 = any free port; must differ from p2p-port and the listen port',
  }),
  bindAddress: setting<string>({
    name: 'bind-address', flag: '--bind-address <ip>', env: 'SHOAL_BIND_ADDRESS', yaml: ['swarm.bindaddress'],
    defaultRaw: constant(DEFAULT_BIND_ADDRESS), defaultText: `${DEFAULT_BIND_ADDRESS} (every IPv4 interface)`, parse: parseIpAddress,
    description: 'IP address the p2p and peer ports listen on; :: for every IPv4 and IPv6 interface',
  }),
  advertiseAddress: setting<string>({
    name: 'advertise-address', flag: '--advertise-address <ip>', env: 'SHOAL_ADVERTISE_ADDRESS', yaml: ['swarm.advertiseaddress'],
    defaultRaw: none, defaultText: 'none (the addresses of the interfaces)', parse: parseAdvertiseAddress,
    description: 'IP address peers should reach this host at, when its own interfaces give the wrong one (NAT, several networks)',
  }),
  bootstrap: setting<string>({
    name: 'bootstrap', flag: '--bootstrap <multiaddr>', env: 'SHOAL_BOOTSTRAP', yaml: ['swarm.bootstrap'],
    defaultRaw: none, defaultText: 'none', parse: bootstrapText, check: checkBootstrap, repeatable: true,
    description: `Peer to dial and keep connected, such as ${BOOTSTRAP_EXAMPLE} (hosts mDNS cannot reach); repeat for several`,
  }),
  mdns: setting<boolean>({
    name: 'mdns', flag: '--no-mdns', env: 'SHOAL_MDNS', yaml: ['swarm.mdns'],
    defaultRaw: constant('true'), defaultText: 'true (mDNS on)', parse: parseBoolean,
    description: 'Find peers on the LAN with mDNS; --no-mdns (or false) where multicast is blocked or unwanted',
  }),
  maxPeerConnections: setting<number>({
    name: 'max-peer-connections', flag: '--max-peer-connections <count>', env: 'SHOAL_MAX_PEER_CONNECTIONS', yaml: ['swarm.maxpeerconnections'],
    defaultRaw: constant(DEFAULT_MAX_PEER_CONNECTIONS), defaultText: DEFAULT_MAX_PEER_CONNECTIONS, parse: parseConnectionLimit,
    description: 'Swarm connections this host keeps at most (libp2p connection manager); past it, no more dials and inbound ones are refused. Two hosts that dial each other at once may keep two connections, so a full mesh of N hosts needs up to 2 × (N − 1): raise it above about 150 hosts to keep every host in view (a host that sees only some members disagrees on piece owners and the seed sends more)',
  }),
  ownerCommittee: setting<number>({
    name: 'owner-committee', flag: '--owner-committee <hosts>', env: 'SHOAL_OWNER_COMMITTEE', yaml: ['swarm.ownercommittee'],
    defaultRaw: constant(DEFAULT_OWNER_COMMITTEE), defaultText: DEFAULT_OWNER_COMMITTEE, parse: parseOwnerCommittee,
    description: "Hosts that own a blob's pieces once the swarm outgrows what one host sees: the ones closest to the blob's key in shoal's DHT, so every host agrees on owners without connecting to all (16 for swarms larger than max-peer-connections); a swarm smaller than this is unaffected (every host owns pieces). 0, the default, turns the DHT off (owners among the peers each host is connected to: right for a full mesh). The same on every host",
  }),
  pieceSize: setting<number>({
    name: 'piece-size', flag: '--piece-size <size>', env: 'SHOAL_PIECE_SIZE', yaml: ['swarm.piecesize'],
    defaultRaw: constant(DEFAULT_PIECE_SIZE), defaultText: DEFAULT_PIECE_SIZE, parse: parsePieceSize,
    description: 'Size of the pieces blobs are split into between peers (64KiB to 64MiB); every host of a swarm must use the same',
  }),
  uploadRate: setting<number>({
    name: 'upload-rate', flag: '--upload-rate <rate>', env: 'SHOAL_UPLOAD_RATE', yaml: ['swarm.uploadrate'],
    defaultRaw: constant('0'), defaultText: '0 (unlimited)', parse: parseRate,
    description: 'Cap on what peers get from this host, such as 50Mbit or 6MiB/s; clients on this host are never capped; needs a restart to change',
  }),
  downloadRate: setting<number>({
    name: 'download-rate', flag: '--download-rate <rate>', env: 'SHOAL_DOWNLOAD_RATE', yaml: ['swarm.downloadrate'],
    defaultRaw: constant('0'), defaultText: '0 (unlimited)', parse: parseRate,
    description: 'Cap on what this host fetches, from peers and the seed together, such as 200Mbit; needs a restart to change',
  }),
  seedRate: setting<number>({
    name: 'seed-rate', flag: '--seed-rate <rate>', env: 'SHOAL_SEED_RATE', yaml: ['proxy.seedrate'],
    defaultRaw: constant('0'), defaultText: '0 (unlimited)', parse: parseRate,
    description: 'Cap on what this host fetches from the seed registry (protects a seed shared by many hosts), such as 100Mbit; needs a restart to change',
  }),
  maxPeerServes: setting<number>({
    name: 'max-peer-serves', flag: '--max-peer-serves <count>', env: 'SHOAL_MAX_PEER_SERVES', yaml: ['swarm.maxpeerserves'],
    defaultRaw: constant(String(DEFAULT_MAX_PEER_SERVES)), defaultText: String(DEFAULT_MAX_PEER_SERVES), parse: parseServeLimit,
    description: 'Piece requests served to peers at once; more are answered "busy" at once and the asker goes to another holder (never to the seed for that)',
  }),
  rangeFetch: setting<RangeFetch>({
    name: 'range-fetch', flag: '--range-fetch <mode>', env: 'SHOAL_RANGE_FETCH', yaml: ['proxy.rangefetch'],
    defaultRaw: constant('fetch-all'), defaultText: 'fetch-all', parse: parseRangeFetch,
    description: 'A Range GET of a blob not here fetches the pieces covering the range first and answers then; fetch-all goes on to fetch the rest in the background, range-only fetches nothing more (for lazy-pulling snapshotters)',
  }),
  clusterKey: setting<string>({
    name: 'cluster-key', flag: '--cluster-key <file>', env: 'SHOAL_CLUSTER_KEY', yaml: ['swarm.clusterkey'],
    defaultRaw: none, defaultText: 'none (any shoal on the network may join)',
    parse: (raw, context) => resolvePath(raw, context.baseDir, context.homedir), check: checkClusterKey,
    description: 'Cluster key file from shoal keygen; only hosts holding the same key can connect or fetch',
  }),
} as const;

export type SettingId = keyof typeof SETTINGS;
export const SETTING_IDS = Object.keys(SETTINGS) as SettingId[];

/** The YAML list that holds several upstreams; `proxy.remoteurl` & co. are its one-entry shorthand. */
export const UPSTREAMS_LIST_KEY = 'upstreams';

function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** Markdown for the README's configuration reference. */
export function renderConfigReference(): string {
  const rows = SETTING_IDS.map((id) => {
    const s: Setting<unknown> = SETTINGS[id];
    const yaml = s.yaml.length === 0 ? '—' : s.yaml.map((path) => `\`${path}\``).join(', ');
    return `| \`${s.name}\` | \`${s.flag}\` | \`${s.env}\` | ${cell(yaml)} | ${cell(s.defaultText)} | ${cell(s.description)} |`;
  });
  return [
    '| setting | flag | environment | YAML | default | meaning |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    'A flag wins over the environment, which wins over the config file, which wins over the default.',
    'Repeatable settings take a comma-separated list in their environment variable. Durations are',
    'written like `2s`, `500ms`, `1m30s`; sizes like `10GiB`, `512MiB`, `100MB` or plain bytes.',
    'Relative paths in the config file are relative to the file; elsewhere to the working directory.',
    'In the YAML file, `proxy.remoteurl`/`username`/`password` name one upstream; for several use',
    '`upstreams: [{url, username, password, ca, clientcert, clientkey, skipverify}]` instead. Flag and',
    'environment credentials and TLS settings apply to the first upstream. Unknown YAML keys are errors. On/off settings take `true` or `false`; the',
    'YAML `swarm.bootstrap` is a list. `shoal keygen --output FILE` writes a new cluster key (mode 0600).',
    'A listen address other hosts can reach needs `htpasswd` (or `allow-insecure-listen`). Watermarks are',
    'percentages of `max-disk-usage`, such as `90%`.',
    '',
  ].join('\n');
}
