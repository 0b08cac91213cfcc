// How long a reader of a blob this host is still fetching waits for its next byte: a peer's, and
// a client's, which must outlast every step the engine takes to recover from a stall.
import { DEFAULT_BODY_IDLE_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from '../upstream/transport.ts';
import { COMMITTEE_WAIT_MS } from './committee-gate.ts';
import { DEFAULT_PEER_IDLE_MS, DEFAULT_PEER_TIMEOUT_MS } from './peer-client.ts';

/** A peer reading a piece this host is still fetching waits at most this long for the next byte. */
export const PEER_READ_IDLE_MS = 30_000;
/**
 * A client's reader of an arriving blob fails after this long without a new byte. It outlasts what
 * the engine does about a stall, one step after another: give up on a silent peer (counted from
 * that peer's last byte, about when the client starts waiting), wait for the owners' committee,
 * ask the next peer, and catch a stalled seed by its own timeouts. With 60 s for the client as for
 * the peer, the client's reader ran out first whenever the engine's next step took a moment, and
 * broke off a download the engine was recovering.
 */
export const CLIENT_READ_IDLE_MS =
  DEFAULT_PEER_IDLE_MS + COMMITTEE_WAIT_MS + DEFAULT_PEER_TIMEOUT_MS + DEFAULT_TIMEOUT_MS + DEFAULT_BODY_IDLE_TIMEOUT_MS;
