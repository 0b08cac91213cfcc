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
// A keyed host dialling a keyless one does not always get the reset: the keyless side reads the
// 24-byte pnet nonce as multistream-select's length prefix, and when that says 24–1024 bytes it
// waits for the rest, so the dial runs into libp2p's dial timeout instead (8 of 31 dials in 14
// runs of the test on loopback; a CI run saw fewer than two resets in 40 s). A dial timeout counts
// too when its connection had reached the peer (the connection gater's outbound check) and not
// opened.
import type { SwarmLogger } from './logger.ts';
import type { UnjoinablePeer } from './types.ts';

/** Handshake failures in a row, per peer, before the warning. */
export const HANDSHAKE_FAILURES_TO_WARN = 2;
/** The warning for one peer is not repeated sooner than this. */
export const WARN_AGAIN_MS = 10 * 60_000;
/** Peers tracked at most (a hostile peer exchange can name many). */
const MAX_TRACKED = 10_000;
/** A dial timing out this long after its connection reached the peer timed out in the handshake (longer than libp2p's dial timeout). */
const REACHED_WINDOW_MS = 30_000;

/** A failed dial's errors, one per address tried (libp2p gives an AggregateError when it tried several); anything thrown that is no Error is wrapped, never dropped. */
export function dialErrors(error: Error): Error[] {
  const errors = error instanceof AggregateError ? (error.errors as unknown[]) : [error];
  return errors.map((e) => (e instanceof Error ? e : new Error(String(e))));
}

/** Whether a failed dial reached the peer but not through the handshake (encryption, or the pnet layer resetting it). */
export function failedInHandshake(error: Error): boolean {
  // "connect ECONNRESET": refused as the connection opened (a host past its cap), no handshake yet.
  return dialErrors(error).some((e) => e.name === 'EncryptionFailedError' || e.message.includes('read ECONNRESET'));
}

/** Whether a dial ran out of time (libp2p's dial timeout aborts it). */
export function timedOut(error: Error): boolean {
  return dialErrors(error).some((e) => e.name === 'TimeoutError');
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
  /** When a dial's connection last reached each peer, until the dial ends. */
  readonly #reachedAt = new Map<string, number>();

  constructor(init: HandshakeFailuresInit) {
    this.#init = init;
    this.#now = init.now ?? Date.now;
  }

  /** A dial's connection reached `peerId`; its handshake starts. */
  reached(peerId: string): void {
    if (this.#reachedAt.size >= MAX_TRACKED) this.#reachedAt.clear();
    this.#reachedAt.set(peerId, this.#now());
  }

  /** Whether a failed dial of `peerId` counts (a handshake failure while this host has no connection): only then are the peer's addresses looked up. */
  counts(peerId: string, error: Error): boolean {
    if (this.#init.openConnections() > 0) return false;
    if (failedInHandshake(error)) return true;
    const reachedAt = this.#reachedAt.get(peerId);
    return reachedAt !== undefined && this.#now() - reachedAt <= REACHED_WINDOW_MS && timedOut(error);
  }

  /** A dial of `peerId` failed, counted or not; `addresses`: where it was dialled (for the warning). */
  dialFailed(peerId: string, error: Error, addresses: readonly string[]): void {
    const counted = this.counts(peerId, error);
    this.#reachedAt.delete(peerId);
    if (!counted) return;
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
    this.#reachedAt.delete(peerId);
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
