// Pure parsers for configuration values. Each takes the text as the operator wrote it and either
// returns the value or throws InvalidValueError whose `reason` completes "invalid <where>: <reason>".
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { isAbsolute, join, resolve } from 'node:path';
import { formatHostPort as formatHost } from '../lib/host-port.ts';

export class InvalidValueError extends Error {
  /** Completes a sentence such as `invalid --listen "abc": <reason>`; starts with "expected ...". */
  readonly reason: string;
  /** The value holds a secret (a password inside a URL): the message must not repeat it. */
  readonly secret: boolean;
  constructor(reason: string, options: { readonly secret?: boolean } = {}) {
    super(reason);
    this.name = 'InvalidValueError';
    this.reason = reason;
    this.secret = options.secret === true;
  }
}

export interface HostPort {
  /** IPv6 addresses are kept without brackets, as `net.Server.listen` wants them. */
  readonly host: string;
  readonly port: number;
}

const HOST_PORT_EXPECTED = 'expected HOST:PORT such as 127.0.0.1:5000 or [::1]:5000';
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function parseHostPort(raw: string): HostPort {
  const match = /^\[([^\]]+)\]:([^:]*)$/.exec(raw) ?? /^([^:[\]]*):([^:]*)$/.exec(raw);
  if (match === null) throw new InvalidValueError(HOST_PORT_EXPECTED);
  const [, host = '', portText = ''] = match;
  const bracketed = raw.startsWith('[');
  if (host === '') {
    // registry:2 accepts ":5000" for "every interface"; shoal makes that choice explicit.
    throw new InvalidValueError(`${HOST_PORT_EXPECTED} (write 0.0.0.0:PORT to listen on every interface)`);
  }
  const hostOk = bracketed ? isIPv6(host) : isIPv4(host) || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host));
  if (!hostOk) throw new InvalidValueError(`${HOST_PORT_EXPECTED}; "${host}" is not an IP address or host name`);
  return { host, port: parsePort(portText) };
}

function parsePort(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new InvalidValueError(`expected a port from 1 to 65535 after the colon, got "${text}"`);
  return port;
}

export function formatHostPort({ host, port }: HostPort): string {
  return formatHost(host, port);
}

/**
 * `<digits>[.<digits>]` times a unit, computed exactly in bigint so that `1.5KiB` is 1536 and
 * `0.1s` is 100 ms, never 100.00000000000001. Undefined when the result is not a whole number.
 */
function scaleDecimal(number: string, unit: bigint): bigint | undefined {
  const [whole = '', fraction = ''] = number.split('.');
  const scaled = BigInt(whole + fraction) * unit;
  const divisor = 10n ** BigInt(fraction.length);
  return scaled % divisor === 0n ? scaled / divisor : undefined;
}

const DURATION_UNITS_MS: Readonly<Record<string, bigint>> = { h: 3_600_000n, m: 60_000n, s: 1000n, ms: 1n };
/** setTimeout fires at once for anything longer (Node clamps to 1 ms with a warning). */
export const MAX_DURATION_MS = 2 ** 31 - 1;
const DURATION_EXPECTED = 'expected a duration such as 2s, 500ms or 1m30s (units h, m, s, ms)';

/** Go-style durations, as registry:2 configs use them: `2s`, `500ms`, `1m30s`, `1.5s`. Must be > 0. */
export function parseDuration(raw: string): number {
  if (!/^(\d+(\.\d+)?(h|ms|m|s))+$/.test(raw)) throw new InvalidValueError(DURATION_EXPECTED);
  let total = 0n;
  for (const [, number = '', unit = ''] of raw.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) {
    const part = scaleDecimal(number, DURATION_UNITS_MS[unit] ?? 0n);
    if (part === undefined) throw new InvalidValueError(`${DURATION_EXPECTED}; "${raw}" is not a whole number of milliseconds`);
    total += part;
  }
  if (total === 0n) throw new InvalidValueError(`${DURATION_EXPECTED}, longer than zero`);
  if (total > BigInt(MAX_DURATION_MS)) throw new InvalidValueError(`expected a duration no longer than ${formatDuration(MAX_DURATION_MS)}`);
  return Number(total);
}

export function formatDuration(ms: number): string {
  let rest = ms;
  let text = '';
  for (const [unit, size] of Object.entries(DURATION_UNITS_MS)) {
    const count = Math.floor(rest / Number(size));
    if (count > 0) text += `${count}${unit}`;
    rest -= count * Number(size);
  }
  return text === '' ? '0s' : text;
}

const SIZE_UNITS: Readonly<Record<string, bigint>> = {
  b: 1n, kb: 1000n, mb: 1000n ** 2n, gb: 1000n ** 3n, tb: 1000n ** 4n,
  kib: 1024n, mib: 1024n ** 2n, gib: 1024n ** 3n, tib: 1024n ** 4n,
};
const SIZE_EXPECTED = 'expected a size such as 10GiB, 512MiB, 100MB or a number of bytes (0 = no limit)';

/** Byte sizes: plain bytes or a decimal (kB, MB...) or binary (KiB, MiB...) unit, case-insensitive. */
export function parseSize(raw: string): number {
  const match = /^(\d+(?:\.\d+)?) ?([A-Za-z]+)?$/.exec(raw);
  const unit = SIZE_UNITS[(match?.[2] ?? 'b').toLowerCase()];
  if (match === null || unit === undefined) throw new InvalidValueError(SIZE_EXPECTED);
  const bytes = scaleDecimal(match[1] ?? '', unit);
  if (bytes === undefined) throw new InvalidValueError(`${SIZE_EXPECTED}; "${raw}" is not a whole number of bytes`);
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidValueError(`expected a size below ${formatSize(Number.MAX_SAFE_INTEGER)}`);
  return Number(bytes);
}

const BINARY_UNITS: readonly (readonly [string, number])[] = [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]];

/** The largest binary unit that divides the size exactly, so that parseSize(formatSize(n)) === n. */
export function formatSize(bytes: number): string {
  if (bytes === 0) return '0';
  for (const [name, size] of BINARY_UNITS) if (bytes % size === 0) return `${bytes / size}${name}`;
  return `${bytes}B`;
}

const URL_EXAMPLE = 'such as http://192.168.64.150:5000 or https://registry-1.docker.io';

/** An upstream registry's base URL, normalised to `scheme://host[:port]` (no trailing slash). */
export function parseUpstreamUrl(raw: string): string {
  // Credentials inside the URL would end up in logs and in `shoal config` output; whatever else is
  // wrong with such a URL, the message must not repeat it (it reaches the journal).
  const secret = { secret: /^[^/?#]*@/.test(raw.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')) };
  if (!/^https?:\/\//i.test(raw)) throw new InvalidValueError(`expected an http:// or https:// URL ${URL_EXAMPLE}`, secret);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidValueError(`expected an http:// or https:// URL ${URL_EXAMPLE}`, secret);
  }
  if (url.host === '') throw new InvalidValueError(`expected a URL with a host ${URL_EXAMPLE}`, secret);
  if (url.username !== '' || url.password !== '') {
    throw new InvalidValueError(`expected a URL without user:password@ (${url.protocol}//${url.host}); give them as upstream username and password instead`, secret);
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new InvalidValueError(`expected a URL without a path, query or fragment ${URL_EXAMPLE}`, secret);
  }
  return `${url.protocol}//${url.host}`;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function parseLogLevel(raw: string): LogLevel {
  const level = LOG_LEVELS.find((candidate) => candidate === raw);
  if (level === undefined) throw new InvalidValueError(`expected one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

/** A path as written: `~` and `~/x` are the home directory (YAML has no shell to expand them). */
export function resolvePath(raw: string, baseDir: string, homedir: string): string {
  if (raw === '') throw new InvalidValueError('expected a path');
  if (raw === '~') return homedir;
  if (raw.startsWith('~/')) return join(homedir, raw.slice(2));
  return isAbsolute(raw) ? resolve(raw) : resolve(baseDir, raw);
}

/** How a bootstrap multiaddr looks, for messages and docs. */
export const BOOTSTRAP_EXAMPLE = '/ip4/10.0.0.5/tcp/5001/p2p/12D3KooW...';

const PORT_OR_ZERO_EXPECTED = 'expected a port from 0 to 65535 (0 = any free port)';

/** A port to listen on where 0 lets the OS pick a free one (the swarm's ports; tests). */
export function parsePortOrZero(raw: string): number {
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new InvalidValueError(PORT_OR_ZERO_EXPECTED);
  return port;
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

/** On/off settings: `true`/`false` (also yes/no, on/off, 1/0, any case, as YAML 1.1 and unit files write them). */
export function parseBoolean(raw: string): boolean {
  const word = raw.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new InvalidValueError('expected true or false');
}

const IP_EXPECTED = 'expected an IP address such as 0.0.0.0, 192.168.1.10 or ::';

/** An IPv4 or IPv6 literal (no host names: sockets bind to addresses); IPv6 kept without brackets. */
export function parseIpAddress(raw: string): string {
  const ip = /^\[.*\]$/.test(raw) ? raw.slice(1, -1) : raw;
  if (isIP(ip) === 0) throw new InvalidValueError(`${IP_EXPECTED}, not a host name`);
  return ip;
}

/** True for 0.0.0.0 and ::, which mean "every interface" when binding and nothing when announced. */
export function isUnspecifiedIp(ip: string): boolean {
  return ip === '0.0.0.0' || /^[0:]+$/.test(ip);
}

/** The address other hosts reach this one at: a concrete IP, not a wildcard. */
export function parseAdvertiseAddress(raw: string): string {
  const ip = parseIpAddress(raw);
  if (isUnspecifiedIp(ip)) throw new InvalidValueError(`expected the IP other hosts reach this one at, such as 192.168.1.10; ${ip} means "every interface" and cannot be dialled`);
  return ip;
}

export const ANONYMOUS_PULL = ['loopback', 'all', 'none'] as const;
export type AnonymousPull = (typeof ANONYMOUS_PULL)[number];

export function parseAnonymousPull(raw: string): AnonymousPull {
  const value = ANONYMOUS_PULL.find((candidate) => candidate === raw);
  if (value === undefined) throw new InvalidValueError(`expected one of ${ANONYMOUS_PULL.join(', ')}`);
  return value;
}

/** `90%` or `87.5%` of something, as a number of percent in (0, 100]. */
export function parsePercent(raw: string): number {
  const match = /^(\d{1,3}(?:\.\d+)?) ?%$/.exec(raw);
  const percent = match ? Number(match[1]) : NaN;
  if (!(percent > 0 && percent <= 100)) throw new InvalidValueError('expected a percentage above 0% and at most 100%, such as 90%');
  return percent;
}
