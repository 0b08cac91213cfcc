// Checks between settings that are each valid alone but not together (two sockets on one port, an
// open listener without users, watermarks the wrong way round), each message naming where both
// values came from. Run by loadConfig on the merged values, before anything is bound.
import { isIP } from 'node:net';
import { ConfigError } from './errors.ts';
import { formatHostPort, isUnspecifiedIp } from './parse.ts';
import { isLoopback } from '../lib/loopback.ts';
import type { AuthConfig, DiskConfig, SwarmConfig } from './types.ts';

/** A merged value and where it came from (`--peer-port`, `SHOAL_LISTEN`, `default of ...`). */
export interface Sourced<T> {
  readonly value: T;
  readonly label: string;
}

export interface SwarmDraft extends Omit<SwarmConfig, 'p2pPort' | 'peerPort' | 'advertiseAddress'> {
  readonly p2pPort: Sourced<number>;
  readonly peerPort: Sourced<number>;
  readonly advertiseAddress: Sourced<string> | undefined;
}

/**
 * Catches, before anything is bound, the combinations that would fail at start-up or leave the host
 * unreachable. Only with the swarm on: with --no-swarm these settings are not used.
 */
export function swarmConfig(listen: Sourced<{ readonly host: string; readonly port: number }>, draft: SwarmDraft): SwarmConfig {
  const { p2pPort, peerPort, bindAddress, advertiseAddress } = draft;
  if (draft.enabled) {
    const clash = (a: string, b: string, port: number): never => {
      throw new ConfigError(`${a} and ${b} are both port ${port}: each needs its own port (or 0 for any free one)`);
    };
    if (peerPort.value !== 0 && peerPort.value === p2pPort.value) clash(`peer-port (${origin(peerPort)})`, `p2p-port (${origin(p2pPort)})`, peerPort.value);
    if (overlaps(listen.value.host, bindAddress)) {
      const listenText = `listen ${formatHostPort(listen.value)} (${origin(listen)})`;
      for (const [name, port] of [['peer-port', peerPort], ['p2p-port', p2pPort]] as const) {
        if (port.value !== 0 && port.value === listen.value.port) clash(`${name} (${origin(port)})`, listenText, port.value);
      }
    }
    // :: listens on both families; 0.0.0.0 on IPv4 only, a concrete address on its own family only:
    // peers told of an address of the other family could never connect.
    const dualStack = isIP(bindAddress) === 6 && isUnspecifiedIp(bindAddress);
    if (advertiseAddress !== undefined && !dualStack && isIP(advertiseAddress.value) !== isIP(bindAddress)) {
      throw new ConfigError(`advertise-address ${advertiseAddress.value} (${origin(advertiseAddress)}) is IPv${isIP(advertiseAddress.value)} but bind-address ${bindAddress} listens on IPv${isIP(bindAddress)} only; bind to :: or advertise an IPv${isIP(bindAddress)} address`);
    }
  }
  return { ...draft, p2pPort: p2pPort.value, peerPort: peerPort.value, advertiseAddress: advertiseAddress?.value };
}

/**
 * Without an htpasswd file there are no users: every client is anonymous and may push and delete.
 * That is fine on loopback; on an address other hosts reach, the operator must say so.
 */
export function authConfig(listen: Sourced<{ readonly host: string; readonly port: number }>, htpasswd: Sourced<string> | undefined, anonymousPull: Sourced<AuthConfig['anonymousPull']>, allowInsecureListen: boolean): AuthConfig {
  if (htpasswd === undefined) {
    if (!isLoopback(listen.value.host) && !allowInsecureListen) {
      throw new ConfigError(`listen ${formatHostPort(listen.value)} (${origin(listen)}) is reachable from other hosts, and without an htpasswd file anyone there could push and delete images: give --htpasswd FILE, or pass --allow-insecure-listen to accept that`);
    }
    if (origin(anonymousPull) !== 'default') {
      throw new ConfigError(`anonymous-pull (${origin(anonymousPull)}) applies only with an htpasswd file (--htpasswd): without users every client is anonymous`);
    }
  }
  return { htpasswdPath: htpasswd?.value, anonymousPull: anonymousPull.value, allowInsecureListen };
}

export function diskConfig(maxBytes: number, high: Sourced<number>, low: Sourced<number>): DiskConfig {
  if (low.value >= high.value) {
    throw new ConfigError(`disk-low-watermark ${low.value}% (${origin(low)}) must be below disk-high-watermark ${high.value}% (${origin(high)}): eviction runs from the high one down to the low one`);
  }
  return { maxBytes, highWatermarkPercent: high.value, lowWatermarkPercent: low.value };
}

/** Where a value came from, for messages that name two settings: `--peer-port`, `SHOAL_LISTEN`, `default`. */
function origin({ label }: Sourced<unknown>): string {
  return label.startsWith('default of ') ? 'default' : label;
}

/** Whether sockets on these two hosts can collide on a port: same address, a wildcard, or a host name (unknown until resolved). */
function overlaps(listenHost: string, bindAddress: string): boolean {
  return listenHost === bindAddress || isIP(listenHost) === 0 || isUnspecifiedIp(listenHost) || isUnspecifiedIp(bindAddress);
}
