// doctor's checks of the swarm side: mDNS route, peers, the node's own ports, clock skew.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { formatHostPort, formatSize, isUnspecifiedIp } from '../config/parse.ts';
import type { NodeStatus } from './daemon-client.ts';
import type { CheckResult } from './doctor-check.ts';
import { unbracketHost } from '../lib/host-port.ts';
import { isLoopback } from '../lib/loopback.ts';

const CONNECT_TIMEOUT_MS = 2000;
const MAX_CLOCK_SKEW_MS = 2000;

export async function checkMdns(status: NodeStatus): Promise<CheckResult> {
  const name = 'mdns';
  if (!status.swarm.enabled) return { name, level: 'warn', message: 'the swarm is off (--no-swarm): no discovery, this node neither shares nor fetches from peers', fix: 'start shoal without --no-swarm to join the swarm' };
  if (!status.swarm.mdns) return { name, level: 'ok', message: 'mDNS is off (--no-mdns): peers come only from --bootstrap' };
  const route = await multicastRoute();
  if (route === undefined) return { name, level: 'warn', message: 'could not read the routing table (no `ip` command, no /proc/net/route)', fix: 'check that a default route or 224.0.0.0/4 exists, or use --bootstrap' };
  if (route === 'none') {
    return { name, level: 'warn', message: 'no multicast route (neither 224.0.0.0/4 nor a default route): mDNS cannot reach other hosts', fix: 'sudo ip route add 224.0.0.0/4 dev <lan interface>, or give peers with --bootstrap' };
  }
  return { name, level: 'ok', message: `multicast can leave this host (${route}); mDNS service _shoal._udp.local on UDP 5353` };
}

/** `224.0.0.0/4 dev eth0`, `default via ...`, 'none', or undefined when the table cannot be read. */
async function multicastRoute(): Promise<string | undefined> {
  const viaIp = await new Promise<string | undefined>((resolve) => {
    execFile('ip', ['route', 'show', 'table', 'all'], { timeout: 3000 }, (error, stdout) => resolve(error ? undefined : stdout));
  });
  if (viaIp !== undefined) {
    const lines = viaIp.split('\n');
    const multicast = lines.find((line) => /^(multicast\s+)?224\.0\.0\.0\/4\b/.test(line.trim()));
    if (multicast) return multicast.trim();
    const dflt = lines.find((line) => /^default\b/.test(line.trim()) && !/\bunreachable\b/.test(line));
    return dflt ? dflt.trim() : 'none';
  }
  const proc = await readFile('/proc/net/route', 'utf8').catch(() => undefined);
  if (proc === undefined) return undefined;
  for (const line of proc.split('\n').slice(1)) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (destination === '00000000') return `default dev ${iface}`;
    if (destination === '000000E0' && mask === '000000F0') return `224.0.0.0/4 dev ${iface}`;
  }
  return 'none';
}

export function checkPeers(status: NodeStatus): CheckResult {
  const name = 'peers';
  if (!status.swarm.enabled) return { name, level: 'warn', message: 'none: the swarm is off, every blob comes from the seed', fix: 'start shoal without --no-swarm on every host' };
  const unjoinable = status.swarm.unjoinable ?? [];
  if (status.peers.length === 0 && unjoinable.length > 0) {
    const where = unjoinable.slice(0, 5).map((peer) => peer.addresses[0] ?? peer.peerId).join(', ');
    return {
      name, level: 'warn',
      message: `no peers: ${unjoinable.length} ${unjoinable.length === 1 ? 'host was' : 'hosts were'} found but ${unjoinable.length === 1 ? 'its' : 'their'} connections fail in the handshake (${where})${status.swarm.clusterKey ? ': they run with another cluster key, or none' : ': they run with a cluster key and this node has none'}`,
      fix: status.swarm.clusterKey ? 'give every host the same --cluster-key file (copy this node\'s to them, or theirs here)' : 'start this node with the swarm\'s --cluster-key file (copy it from a host that has joined)',
    };
  }
  if (status.peers.length === 0) {
    return {
      name, level: 'warn', message: 'no peers found',
      fix: `run shoal on the other hosts; open UDP 5353 (mDNS) and the p2p and peer TCP ports between them${status.swarm.clusterKey ? '; every host needs the same --cluster-key' : ''}; across subnets use --bootstrap`,
    };
  }
  const hosts = status.peers.map((peer) => peerHost(peer)).slice(0, 5).join(', ');
  const own = status.swarm.pieceSize;
  const mismatched = own === undefined ? [] : status.peers.filter((peer) => peer.pieceSize !== undefined && peer.pieceSize !== own);
  if (own !== undefined && mismatched.length > 0) {
    const theirs = mismatched.slice(0, 5).map((peer) => `${peerHost(peer)} ${formatSize(peer.pieceSize!)}`).join(', ');
    return {
      name, level: 'warn',
      message: `${mismatched.length} of ${status.peers.length} peers use another piece size than this node's ${formatSize(own)} (${theirs}): no pieces are traded with them, so blobs come from the seed instead`,
      fix: 'give every host the same --piece-size (or none: the default)',
    };
  }
  return { name, level: 'ok', message: `${status.peers.length} ${status.peers.length === 1 ? 'peer' : 'peers'}: ${hosts}${status.peers.length > 5 ? ', ...' : ''}` };
}

/** An open swarm works, but the operator should know what it lets anyone on the LAN do. */
export function checkClusterKey(status: NodeStatus): CheckResult {
  const name = 'cluster key';
  if (status.swarm.clusterKey) return { name, level: 'ok', message: 'set: only hosts with the key join the swarm and fetch from this node, over TLS' };
  return {
    name, level: 'warn',
    message: 'none: the swarm is open; any host on the LAN can join, read this node\'s blob and tag lists, and fetch every blob, pushed private images included',
    fix: 'npx shoal keygen --output /etc/shoal/cluster.key, copy it to every host, and start each with --cluster-key /etc/shoal/cluster.key',
  };
}

function peerHost(peer: NodeStatus['peers'][number]): string {
  if (peer.url) {
    try {
      return new URL(peer.url).host;
    } catch {
      // fall through
    }
  }
  return peer.peerId.slice(0, 16);
}

interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly what: string;
}

/** Non-loopback TCP endpoints of the node: the p2p port from its multiaddrs, the peer port from its URL. */
export function nodeEndpoints(status: NodeStatus): { endpoints: Endpoint[]; loopbackOnly: boolean } {
  const endpoints: Endpoint[] = [];
  let any = false;
  for (const address of status.node.multiaddrs ?? []) {
    const match = /^\/(ip4|ip6)\/([^/]+)\/tcp\/(\d+)/.exec(address);
    if (!match) continue;
    any = true;
    const host = match[2] ?? '';
    if (isLoopback(host)) continue;
    endpoints.push({ host, port: Number(match[3]), what: 'p2p' });
  }
  if (status.node.peerUrl) {
    try {
      const url = new URL(status.node.peerUrl);
      const host = unbracketHost(url.hostname);
      const port = Number(url.port || 80);
      any = true;
      if (isUnspecifiedIp(host)) {
        // Bound to every interface: reachable on the node's own addresses, as the p2p port is.
        const hosts = [...new Set(endpoints.map((e) => e.host))];
        for (const own of hosts) endpoints.push({ host: own, port, what: 'peer' });
      } else if (!isLoopback(host)) {
        endpoints.push({ host, port, what: 'peer' });
      }
    } catch {
      // ignored
    }
  }
  const unique = endpoints.filter((e, i) => endpoints.findIndex((o) => o.host === e.host && o.port === e.port) === i);
  return { endpoints: unique, loopbackOnly: any && unique.length === 0 };
}

export async function checkPorts(status: NodeStatus): Promise<CheckResult> {
  const name = 'p2p port';
  if (!status.swarm.enabled) return { name, level: 'warn', message: 'not listening: the swarm is off (--no-swarm)', fix: 'start shoal without --no-swarm to share with peers' };
  const { endpoints, loopbackOnly } = nodeEndpoints(status);
  if (loopbackOnly) {
    return { name, level: 'fail', message: 'the node announces loopback addresses only: other hosts cannot reach it', fix: 'set --bind-address to the LAN address (or 0.0.0.0) and --advertise-address if peers reach it at another address' };
  }
  if (endpoints.length === 0) return { name, level: 'warn', message: 'the node announces no TCP address yet', fix: 'wait for "swarm started" in the log, then run shoal doctor again' };
  const checked = endpoints.slice(0, 6);
  const outcomes = await Promise.all(checked.map(async (e) => ({ e, error: await tcpConnect(e.host, e.port) })));
  const failed = outcomes.filter((o) => o.error !== undefined);
  const text = (e: Endpoint): string => `${e.what} ${formatHostPort({ host: e.host, port: e.port })}`;
  if (failed.length > 0) {
    return {
      name, level: 'fail',
      message: `cannot connect to ${failed.map((o) => `${text(o.e)} (${o.error})`).join(', ')}`,
      fix: 'check --bind-address, --advertise-address and --p2p-port/--peer-port, and that nothing else took the port',
    };
  }
  return { name, level: 'ok', message: `${checked.map((o) => text(o)).join(', ')} accept connections from this host (open these TCP ports to the other hosts too)` };
}

function tcpConnect(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: CONNECT_TIMEOUT_MS });
    const done = (error: string | undefined): void => {
      socket.destroy();
      resolve(error);
    };
    socket.once('connect', () => done(undefined));
    socket.once('timeout', () => done('timed out'));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
  });
}

export function checkClock(status: NodeStatus): CheckResult {
  const name = 'clock';
  if (status.peers.length === 0) return { name, level: 'ok', message: 'no peers to compare clocks with' };
  const skewed = status.peers.filter((peer) => Math.abs(peer.clockSkewMs) > MAX_CLOCK_SKEW_MS);
  const worst = Math.max(...status.peers.map((peer) => Math.abs(peer.clockSkewMs)));
  if (skewed.length === 0) return { name, level: 'ok', message: `peers' clocks agree within ${(worst / 1000).toFixed(1)} s` };
  return {
    name, level: 'warn',
    message: `clock differs by more than ${MAX_CLOCK_SKEW_MS / 1000} s from ${skewed.map((peer) => `${peerHost(peer)} (${(peer.clockSkewMs / 1000).toFixed(1)} s)`).join(', ')}: tag announcements are ordered by time`,
    fix: 'sync clocks with NTP on every host (timedatectl set-ntp true)',
  };
}

// ---- docker's own configuration ----
