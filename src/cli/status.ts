// `shoal status`: the local node (addresses, peer id, data dir usage, upstreams and their health),
// transfers, and a table of peers; `--json` prints the daemon's snapshot as it is.
import type { HostPort } from '../config/parse.ts';
import { daemonBaseUrl, fetchStatus, type NodeStatus } from './daemon-client.ts';
import { formatBytes } from '../lib/bytes.ts';
import { formatAgo, formatElapsed } from './progress.ts';
import { paint, table, type ClientIo } from './terminal.ts';

export interface StatusOptions {
  readonly json?: boolean;
}

/** Resolves to the exit code: 0 when the daemon answered, 1 otherwise (the message says what to do). */
export async function status(options: StatusOptions, listen: HostPort, io: ClientIo): Promise<number> {
  let snapshot: NodeStatus;
  try {
    snapshot = await fetchStatus(daemonBaseUrl(listen));
  } catch (error) {
    io.stderr(`shoal: ${(error as Error).message}\n`);
    return 1;
  }
  if (options.json === true) {
    io.stdout(`${JSON.stringify(snapshot, null, 2)}\n`);
    return 0;
  }
  io.stdout(renderStatus(snapshot, io.color));
  return 0;
}

/** The human-readable report. */
export function renderStatus(s: NodeStatus, color = false): string {
  const { node } = s;
  const now = node.now;
  const uptime = formatElapsed(Math.max(0, now - Date.parse(node.startedAt)));
  const lines: string[] = [];
  const rows: string[][] = [
    ['node', `shoal ${node.version}, up ${uptime}`],
    ['registry', `http://${node.listen}`],
  ];
  if (node.peerId !== undefined) rows.push(['peer id', node.peerId]);
  for (const [i, address] of (node.multiaddrs ?? []).entries()) rows.push([i === 0 ? 'p2p' : '', address]);
  if (node.peerUrl !== undefined) rows.push(['peer url', node.peerUrl]);
  rows.push(['data dir', `${node.dataDir} (${plural(node.blobs, 'blob')}, ${formatBytes(node.storedBytes)})`]);
  rows.push(['swarm', s.swarm.enabled
    ? `on, mDNS ${s.swarm.mdns ? 'on' : 'off'}, cluster key ${s.swarm.clusterKey ? 'on' : 'off'}`
    : 'off (--no-swarm): a single-node mirror']);
  if (s.upstreams.length === 0) rows.push(['upstream', 'none (a standalone registry: only pushed images)']);
  for (const [i, upstream] of s.upstreams.entries()) {
    const state = upstream.state === 'up'
      ? paint(color, 'green', upstream.consecutiveFailures > 0 ? `up (${plural(upstream.consecutiveFailures, 'recent failure')})` : 'up')
      : paint(color, 'red', 'down');
    const error = upstream.lastError !== undefined && (upstream.state !== 'up' || upstream.consecutiveFailures > 0) ? `: ${upstream.lastError}` : '';
    const kind = upstream.configured ? '' : ' (named in an image)';
    rows.push([i === 0 ? 'upstream' : '', `${upstream.url}${kind}  ${state}${error}`]);
  }
  const t = s.transfers;
  rows.push(['transfers', `from seed ${formatBytes(t.bytesFromSeed)}, from peers ${formatBytes(t.bytesFromPeers)}, served to peers ${formatBytes(t.bytesServedToPeers)}`]);
  rows.push(['', `${plural(t.blobsFetched, 'blob')} fetched, ${t.blobsFailed} failed, ${plural(t.verificationFailures, 'verification failure')}`]);
  rows.push(...capRows(s.neighbour));
  for (const [i, fetch] of s.inflight.entries()) {
    const shortDigest = fetch.digest.slice(0, 'sha256:'.length + 12);
    rows.push([i === 0 ? 'fetching' : '', `${shortDigest}  ${formatBytes(fetch.received)} / ${formatBytes(fetch.size)}, ${plural(fetch.readers, 'reader')}`]);
  }
  rows.push(['images', `${plural(s.images.length, 'tag')} cached${s.images.length > 0 ? ' (shoal status --json lists them)' : ''}`]);
  lines.push(...table(rows));
  lines.push('');
  if (!s.swarm.enabled) {
    lines.push('peers: none (the swarm is off)');
  } else if (s.peers.length === 0) {
    lines.push('peers: none found yet (shoal doctor checks why)');
  } else {
    lines.push(`peers (${s.peers.length}):`);
    const header = ['ADDRESS', 'PEER ID', 'LAST SEEN', 'BLOBS', 'RECEIVED', 'SERVED', 'CLOCK'];
    const peerRows = [...s.peers]
      .sort((a, b) => peerAddress(a).localeCompare(peerAddress(b)))
      .map((peer) => [
        peerAddress(peer),
        shortPeerId(peer.peerId),
        formatAgo(Math.max(0, now - peer.lastSeen)),
        String(peer.blobs),
        formatBytes(peer.bytesReceived),
        formatBytes(peer.bytesServed),
        formatSkew(peer.clockSkewMs),
      ]);
    lines.push(...table([header, ...peerRows]).map((line) => `  ${line}`));
  }
  return `${lines.join('\n')}\n`;
}

/** Each bandwidth cap with the rate now; absent from daemons older than the caps. */
function capRows(n: NodeStatus['neighbour'] | undefined): string[][] {
  if (n === undefined) return [];
  const rate = (bytesPerSecond: number): string => `${((bytesPerSecond * 8) / 1e6).toFixed(1)} Mbit/s`;
  const cap = (name: string, c: { limit: number; rate: number }): string => `${name} ${rate(c.rate)}${c.limit > 0 ? ` of ${rate(c.limit)}` : ' (no cap)'}`;
  return [
    ['caps', `${cap('upload', n.caps.upload)}, ${cap('download', n.caps.download)}, ${cap('from seed', n.caps.seed)}`],
    ['', `serving ${n.serving} of at most ${n.maxPeerServes} piece requests; Range reads: ${n.rangeFetch}`],
  ];
}

/** The host peers are fetched from: the peer URL's host, else the first multiaddr's IP. */
export function peerAddress(peer: NodeStatus['peers'][number]): string {
  if (peer.url !== undefined) {
    try {
      return new URL(peer.url).host;
    } catch {
      // fall through to the multiaddrs
    }
  }
  for (const address of peer.addresses) {
    const match = /^\/(?:ip4|ip6|dns4|dns6|dns)\/([^/]+)/.exec(address);
    if (match?.[1] !== undefined) return match[1];
  }
  return '?';
}

/** `12D3KooW…x7Qa`: enough to tell peers apart in a table. */
function shortPeerId(peerId: string): string {
  return peerId.length <= 20 ? peerId : `${peerId.slice(0, 12)}…${peerId.slice(-6)}`;
}

function formatSkew(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const sign = ms <= -50 ? '-' : '+';
  return `${sign}${(Math.abs(ms) / 1000).toFixed(1)} s`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
