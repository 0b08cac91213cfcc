// The peer port's HTTP(S) server: the LAN reaches it, so no host on the LAN may hold enough of
// its connections to starve the process. Without caps, ~20,000 idle connections (plain, or TLS
// with a cluster key, held until the 120 s handshake timeout) took every file descriptor of a
// daemon with 20,000, and its registry API on loopback failed (audit F1).
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import { capConnections, type ConnectionRefusal } from '../lib/connection-caps.ts';
import { isLoopback } from '../lib/loopback.ts';
import { openFileLimit } from '../lib/open-file-limit.ts';

/**
 * Connections from one address at once. A peer opens one connection per piece it reads from this
 * host at a time (lib/http1-client.ts keeps them alive and reuses them, one request each):
 * DEFAULT_MAX_PER_PEER = 2 per blob it fetches (distribute/piece-limits.ts), so 2-3 blobs of a pull
 * take 4-6, a preheat of several images a few dozen. 256 is several times the most a real peer
 * uses, and 16 addresses are needed to fill the total. Loopback is exempt: nothing on the LAN
 * sends from 127/8 or ::1, and tests and benches run many hosts in one process on 127.0.0.1.
 */
export const PEER_CONNECTIONS_PER_ADDRESS = 256;
/**
 * Connections at once in all. This host serves DEFAULT_MAX_PEER_SERVES = 32 pieces at once
 * (distribute/serve-slots.ts) and answers the rest "busy" at once; what else is open is peers'
 * kept-alive connections (5 s). 4096 is 2 each for 2,000 peers pulling from this host at the
 * same moment, far past a swarm whose hosts keep max-peer-connections (300) peers each.
 */
export const PEER_CONNECTIONS_TOTAL = 4096;
/** At most this share of the process's file descriptors (Node raises its soft limit to the hard one): the registry API, the store and libp2p keep the rest. */
const FD_SHARE = 1 / 4;
/**
 * A connection that has not sent a whole request head this long after it opened (or, with TLS,
 * after its handshake) is closed (408). A peer sends its request as soon as it is connected (its
 * own patience for our answer is 10 s: DEFAULT_PEER_TIMEOUT_MS). Node's default is 60 s, checked
 * every 30 s: an idle connection lasted up to 90 s. Nothing about the response is timed: a piece
 * relayed from a slow seed may stream for minutes, and that is the client's idle limit to judge.
 */
export const PEER_HEADERS_TIMEOUT_MS = 10_000;
/** How often Node looks for connections past the headers timeout (its default, 30 s, tripled how long an idle connection lasted). */
const CONNECTIONS_CHECK_MS = 1_000;
/** A request has no body on the peer port: once its head is in, it is all in. Node requires at least the headers timeout. */
const REQUEST_TIMEOUT_MS = 2 * PEER_HEADERS_TIMEOUT_MS;
/**
 * With a cluster key: a TLS handshake not finished within this long is dropped (Node's default
 * 120 s let a host without the key hold a connection for two minutes). A peer's handshake is a
 * round trip or two, and the peer itself gives up after its 3 s connect timeout.
 */
export const PEER_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Refusals over a cap are logged at most this often (a flood refuses thousands a second). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export interface PeerServerLimits {
  readonly total: number;
  readonly perAddress: number;
  readonly headersTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
}

/** The caps for a process that may hold `fdLimit` file descriptors (default: what it may now). */
export function peerServerLimits(fdLimit: number | undefined = openFileLimit()): PeerServerLimits {
  const total = Math.max(16, Math.min(PEER_CONNECTIONS_TOTAL, Math.floor((fdLimit ?? Infinity) * FD_SHARE)));
  // With few descriptors one address must still not fill the total alone.
  const perAddress = Math.min(PEER_CONNECTIONS_PER_ADDRESS, Math.max(4, Math.floor(total / 4)));
  return { total, perAddress, headersTimeoutMs: PEER_HEADERS_TIMEOUT_MS, handshakeTimeoutMs: PEER_HANDSHAKE_TIMEOUT_MS };
}

export interface PeerServerInit {
  readonly tls?: TlsOptions | undefined;
  readonly limits: PeerServerLimits;
  readonly logger: Logger;
}

/** An http (or, with `tls`, https) server with the peer port's caps and timeouts. */
export function createPeerServer(handler: RequestListener, init: PeerServerInit): Server {
  const { limits } = init;
  const options = { headersTimeout: limits.headersTimeoutMs, requestTimeout: Math.max(REQUEST_TIMEOUT_MS, limits.headersTimeoutMs), connectionsCheckingInterval: Math.min(CONNECTIONS_CHECK_MS, limits.headersTimeoutMs) };
  const server = (init.tls ? createHttpsServer({ ...options, ...init.tls, handshakeTimeout: limits.handshakeTimeoutMs }, handler) : createServer(options, handler)) as Server;
  capConnections(server, { total: limits.total, perAddress: limits.perAddress, exempt: isLoopback, onRefused: refusalLog(server, limits, init.logger) });
  return server;
}

/** Logs the first refusal at once, then at most one line per REFUSAL_LOG_INTERVAL_MS with what was refused since. */
function refusalLog(server: Server, limits: PeerServerLimits, logger: Logger, now: () => number = Date.now): (refusal: ConnectionRefusal) => void {
  let loggedAt = -Infinity;
  let refused = 0;
  const addresses = new Map<string, number>();
  return (refusal) => {
    refused += 1;
    const key = `${refusal.cap} ${refusal.address ?? 'unknown'}`;
    addresses.set(key, (addresses.get(key) ?? 0) + 1);
    if (now() - loggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    loggedAt = now();
    const bound = server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : undefined;
    const top = [...addresses].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([what, count]) => `${what}: ${count}`);
    logger.warn(
      { refused, top, perAddressCap: limits.perAddress, totalCap: limits.total, peerPort: port, nextLogInMs: REFUSAL_LOG_INTERVAL_MS },
      `peer port: connections refused over the cap (${limits.perAddress} from one address, ${limits.total} in all); a shoal peer keeps a few, so look for a host holding many (ss -tn state established '( sport = :${port ?? '<peer port>'} )'); this node's registry API is not affected`,
    );
    refused = 0;
    addresses.clear();
  };
}
