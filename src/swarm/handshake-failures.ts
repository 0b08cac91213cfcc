// A host this one finds (mDNS, a bootstrap address, peer exchange) but cannot join because their
// cluster keys differ fails every dial in the handshake, and before this nothing said so: the
// operator saw a swarm of one and a debug line per dial. Measured on loopback (libp2p 3): a dial
// to a host with another key fails in ~20 ms ("read ECONNRESET", EncryptionFailedError); a keyed
// host dialling a keyless one, the same reset; a keyless host dialling a keyed one waits out the
// 6 s handshake timeout (EncryptionFailedError). A host that restarts mid-handshake fails once;
// the same peer failing the handshake twice in a row, with no connection between, while this host
// has no connection at all, is worth a warning that says what to check. Not while it has others: a
// host past its connection cap refuses at once, and across a real link its reset can land inside
// the handshake too, where it looks the same; a host with no connection is not being refused by a
// whole swarm of full hosts (they let a newcomer in for a moment, connection-budget.ts).
import type { SwarmLogger } from './logger.ts';
import type { UnjoinablePeer } from './types.ts';

/** Handshake failures in a row, per peer, before the warning. */
export const HANDSHAKE_FAILURES_TO_WARN = 2;
/** The warning for one peer is not repeated sooner than this. */
export const WARN_AGAIN_MS = 10 * 60_000;
/** Peers tracked at most (a hostile peer exchange can name many). */
const MAX_TRACKED = 10_000;

/** Whether a failed dial reached the peer but not through the handshake (encryption, or the pnet layer resetting it). */
export function failedInHandshake(error: Error): boolean {
  const errors = error instanceof AggregateError ? (error.errors as unknown[]) : [error];
  // "connect ECONNRESET": refused as the connection opened (a host past its cap), no handshake yet.
  return errors.some((e) => e instanceof Error && (e.name === 'EncryptionFailedError' || e.message.includes('read ECONNRESET')));
}

export interface HandshakeFailuresInit {
  /** Whether this host runs with a cluster key: the advice differs. */
  readonly keyed: boolean;
  /** Connections this host has open now. */
  readonly openConnections: () => number;
  readonly log: SwarmLogger;
  readonly now?: () => number;
}

export class HandshakeFailures {
  readonly #init: HandshakeFailuresInit;
  readonly #now: () => number;
  /** Failures in a row, where it was dialled last, and when the last warning for the peer went out. */
  readonly #peers = new Map<string, { inRow: number; addresses: readonly string[]; warnedAt: number }>();

  constructor(init: HandshakeFailuresInit) {
    this.#init = init;
    this.#now = init.now ?? Date.now;
  }

  /** Whether a failed dial counts (a handshake failure while this host has no connection): only then are the peer's addresses looked up. */
  counts(error: Error): boolean {
    return failedInHandshake(error) && this.#init.openConnections() === 0;
  }

  /** A dial of `peerId` failed; `addresses`: where it was dialled (for the warning). */
  dialFailed(peerId: string, error: Error, addresses: readonly string[]): void {
    if (!this.counts(error)) return;
    if (this.#peers.size >= MAX_TRACKED && !this.#peers.has(peerId)) this.#peers.clear();
    const entry = this.#peers.get(peerId) ?? { inRow: 0, addresses: [], warnedAt: Number.NEGATIVE_INFINITY };
    entry.inRow += 1;
    entry.addresses = addresses.slice(0, 4);
    this.#peers.set(peerId, entry);
    const now = this.#now();
    if (entry.inRow < HANDSHAKE_FAILURES_TO_WARN || now - entry.warnedAt < WARN_AGAIN_MS) return;
    entry.warnedAt = now;
    const advice = this.#init.keyed
      ? 'that host most likely runs with another cluster key, or none: every host of a swarm needs the same --cluster-key file (make one with `shoal keygen` and copy it to each host)'
      : 'that host most likely runs with a cluster key and this one has none: give every host of the swarm the same --cluster-key file, or none';
    this.#init.log.warn({ peerId, addresses: entry.addresses, failures: entry.inRow, err: error.message }, `cannot join a peer: its connections fail in the handshake; ${advice}`);
  }

  /** A connection to `peerId` opened: its failures in a row end. */
  connected(peerId: string): void {
    this.#peers.delete(peerId);
  }

  /** Peers whose last dials failed in the handshake at least HANDSHAKE_FAILURES_TO_WARN times in a row (at most `limit`). */
  failing(limit = 20): UnjoinablePeer[] {
    const failing: UnjoinablePeer[] = [];
    for (const [peerId, entry] of this.#peers) {
      if (failing.length >= limit) break;
      if (entry.inRow >= HANDSHAKE_FAILURES_TO_WARN) failing.push({ peerId, addresses: entry.addresses });
    }
    return failing;
  }
}
