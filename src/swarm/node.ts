// The libp2p node under the swarm: TCP, noise, yamux, identify; mDNS on the LAN and a static
// bootstrap list across subnets; a pnet protector when a cluster key is set. Built, not started:
// the Swarm registers its protocol first, then starts it.
import { isIP } from 'node:net';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { bootstrap } from '@libp2p/bootstrap';
import { identify, type Identify } from '@libp2p/identify';
import type { KadDHT } from '@libp2p/kad-dht';
import { ping, type Ping } from '@libp2p/ping';
import { KEEP_ALIVE, type ConnectionGater, type Libp2p, type PeerDiscovery, type PrivateKey } from '@libp2p/interface';
import { mdns } from '@libp2p/mdns';
import { preSharedKey } from '@libp2p/pnet';
import { tcp } from '@libp2p/tcp';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { parseBootstrapAddress } from '../lib/bootstrap-address.ts';
import type { ClusterKey } from './cluster-key.ts';

/**
 * mDNS service name queried and answered. Not libp2p's `_p2p._udp.local`: shoal daemons find
 * each other and do not dial every IPFS node on the LAN (nor get dialled by them).
 */
export const SHOAL_MDNS_SERVICE_TAG = '_shoal._udp.local';
/** mDNS query interval; a new host is found at its first query, this only bounds re-discovery. */
export const DEFAULT_MDNS_INTERVAL_MS = 10_000;
export const DEFAULT_LISTEN_ADDRESSES: readonly string[] = ['0.0.0.0'];

/**
 * shoal's own Kademlia DHT: its own protocol id, so it never joins (or answers) the IPFS DHTs;
 * on the same libp2p node as the announce protocol, so a cluster key keeps strangers out of it too.
 */
export const SHOAL_DHT_PROTOCOL = '/shoal/kad/1.0.0';

export type SwarmNode = Libp2p<{ identify: Identify; ping: Ping; mdns?: PeerDiscovery; dht?: KadDHT }>;

export interface MdnsInit {
  readonly serviceTag?: string;
  readonly intervalMs?: number;
}

export interface SwarmNodeInit {
  readonly privateKey: PrivateKey;
  /** TCP port for the swarm; 0 picks a free one (tests). */
  readonly listenPort: number;
  /** IPs to listen on; default all IPv4 interfaces. */
  readonly listenAddresses?: readonly string[];
  /** IPs to announce instead of the interfaces' (a host reached through another address). */
  readonly announceAddresses?: readonly string[];
  /** Multiaddrs with `/p2p/<peer id>` of peers to dial at start (peers outside mDNS's reach). */
  readonly bootstrap?: readonly string[];
  /** mDNS discovery; false turns it off (tests on a shared network, hosts without multicast). */
  readonly mdns?: false | MdnsInit;
  readonly clusterKey?: ClusterKey;
  readonly connectionGater?: ConnectionGater;
  /** libp2p's connection cap: inbound connections past it are refused (undefined: libp2p's default). */
  readonly maxConnections?: number;
  /**
   * Inbound connections accepted per second from one IP address (libp2p's default: 5). Only hosts
   * that share an address need more: several hosts in one process on loopback (bench/scale).
   */
  readonly inboundPerAddressPerSecond?: number;
  /** Run the DHT (owner committees at scale). */
  readonly dht?: boolean;
}

export async function createSwarmNode(init: SwarmNodeInit): Promise<SwarmNode> {
  const listen = (init.listenAddresses ?? DEFAULT_LISTEN_ADDRESSES).map((ip) => tcpAddress(ip, init.listenPort));
  const announceIps = init.announceAddresses ?? [];
  announceIps.forEach((ip) => tcpAddress(ip, 0)); // validates early, with a clear message
  const bootstrapList = [...(init.bootstrap ?? [])];
  bootstrapList.forEach(parseBootstrapAddress);
  const mdnsInit = init.mdns === false ? undefined : (init.mdns ?? {});
  // Loaded only when asked for (owner committees at scale): its ~60 modules cost an idle node ~2 MiB.
  const dht = init.dht === true ? await import('@libp2p/kad-dht') : undefined;

  const node = await createLibp2p({
    start: false,
    privateKey: init.privateKey,
    nodeInfo: { name: 'shoal' },
    addresses: {
      listen,
      // The port is known only once listening (port 0), so the advertise IPs are applied to the
      // transport's real addresses rather than configured as fixed announce strings.
      announceFilter: announceIps.length > 0 ? (addrs) => withAnnouncedIps(addrs, announceIps) : undefined,
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: init.clusterKey === undefined ? undefined : preSharedKey({ psk: init.clusterKey.swarmKey }),
    connectionGater: init.connectionGater,
    connectionManager: {
      ...(init.maxConnections === undefined ? {} : { maxConnections: init.maxConnections }),
      ...(init.inboundPerAddressPerSecond === undefined ? {} : { inboundConnectionThreshold: init.inboundPerAddressPerSecond }),
    },
    // Off: libp2p's monitor pings every connection every 10 s on a new stream and aborts the
    // connection when a ping is late. The announce protocol's heartbeat already tells a silent peer
    // (swarm.ts), and a busy host (one process running many, or a daemon at full CPU in a fan-out)
    // answered late, lost every connection at once and redialled them all.
    connectionMonitor: { enabled: false },
    peerDiscovery: bootstrapList.length > 0 ? [bootstrap({ list: bootstrapList, timeout: 0 })] : [],
    services: {
      identify: identify(),
      // LAN mode: a server from the start (every member is dialable on the LAN), every address
      // kept (private ones are the point here).
      // libp2p's ping: the DHT checks routing-table contacts with it.
      ping: ping(),
      ...(dht !== undefined ? { dht: dht.kadDHT({ protocol: SHOAL_DHT_PROTOCOL, clientMode: false, peerInfoMapper: dht.passthroughMapper, logPrefix: 'shoal:dht', metricsPrefix: 'shoal_dht', datastorePrefix: '/shoal-dht' }) } : {}),
      // A service rather than a peerDiscovery entry, so the swarm can hear every sighting: libp2p
      // raises 'peer:discovery' only the first time a peer is seen, not when it comes back.
      ...(mdnsInit === undefined
        ? {}
        : { mdns: mdns({ serviceTag: mdnsInit.serviceTag ?? SHOAL_MDNS_SERVICE_TAG, interval: mdnsInit.intervalMs ?? DEFAULT_MDNS_INTERVAL_MS }) }),
    },
  });
  if (dht !== undefined) dropKeepAliveTags(node);
  return node;
}

/**
 * kad-dht tags the 20 peers closest to this host's id keep-alive, and libp2p redials a peer so
 * tagged whenever its last connection closes. Which connections stay is the swarm's call
 * (connection-budget.ts): a temporary one it let go, or a crossing one it closed, was reopened at
 * once by libp2p, let go again after the grace period, and so on for the whole run (64 loopback
 * hosts under a cap of 64: 14,805 connections opened while forming, 4x a full mesh). The tag is
 * taken off as soon as the DHT sets it; the DHT's own value tag stays.
 */
function dropKeepAliveTags(node: Libp2p): void {
  node.addEventListener('peer:update', ({ detail }) => {
    const tags = [...detail.peer.tags.keys()].filter((name) => name.startsWith(KEEP_ALIVE));
    if (tags.length > 0) void node.peerStore.merge(detail.peer.id, { tags: Object.fromEntries(tags.map((name) => [name, undefined])) }).catch(() => undefined);
  });
}

/** `/ip4/<ip>/tcp/<port>` or `/ip6/…`; throws for anything but an IP literal. */
export function tcpAddress(ip: string, port: number): string {
  const family = isIP(ip);
  if (family === 0) throw new Error(`not an IP address: ${JSON.stringify(ip)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`not a TCP port: ${port}`);
  return `/ip${family}/${ip}/tcp/${port}`;
}

function withAnnouncedIps(addrs: Multiaddr[], ips: readonly string[]): Multiaddr[] {
  const announced = new Map<string, Multiaddr>();
  for (const addr of addrs) {
    const components = addr.getComponents();
    const port = components.find((c) => c.name === 'tcp')?.value;
    const peerId = components.findLast((c) => c.name === 'p2p')?.value;
    if (port === undefined) continue;
    for (const ip of ips) {
      const text = `${tcpAddress(ip, Number(port))}${peerId === undefined ? '' : `/p2p/${peerId}`}`;
      announced.set(text, multiaddr(text));
    }
  }
  return [...announced.values()];
}
