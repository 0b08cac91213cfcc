// A peer's announce stream can end while the peer stays connected: the stream rode on one of two
// crossing connections and that one was closed (crossing-connections.ts), or it broke on its own.
// The peer opens a new one within about a second (announce-streams.ts, REOPEN_DELAY_MS). Leaving
// it at once dropped it from every blob's members for that second, and every host that saw it go
// moved its pieces to other owners, who read them from the seed (seen in swarm-answer: an asker
// lost the owner 1.0-1.9 s after first hearing it, 1 run in 10 beside two busy loops). So while
// the peer is still connected its leave waits for the new stream's hello, up to LEAVE_GRACE_MS;
// a disconnect, or a stream that broke the protocol, leaves at once.

/** How long a connected peer whose announce stream ended stays a member, waiting for its next one. */
export const LEAVE_GRACE_MS = 5_000;

export interface LeaveGraceInit {
  readonly leave: (peerId: string, reason: string) => void;
  /** Whether this host has a connection to the peer now. */
  readonly connected: (peerId: string) => boolean;
  readonly graceMs?: number;
}

export class LeaveGrace {
  readonly #init: LeaveGraceInit;
  readonly #pending = new Map<string, NodeJS.Timeout>();

  constructor(init: LeaveGraceInit) {
    this.#init = init;
  }

  /** The peer's announce stream to this host ended (announce-streams.ts onInboundEnded). */
  streamEnded(peerId: string, reason: string): void {
    this.#cancel(peerId);
    if (reason.startsWith('protocol violation') || !this.#init.connected(peerId)) return this.#init.leave(peerId, reason);
    const graceMs = this.#init.graceMs ?? LEAVE_GRACE_MS;
    const timer = setTimeout(() => {
      this.#pending.delete(peerId);
      this.#init.leave(peerId, `${reason}; no new stream within ${graceMs / 1000} s`);
    }, graceMs);
    timer.unref();
    this.#pending.set(peerId, timer);
  }

  /** The peer's hello on a new stream: it starts over there, no leave pending. */
  settled(peerId: string): void {
    this.#cancel(peerId);
  }

  /** This host's last connection to the peer closed: it leaves now. */
  disconnected(peerId: string): void {
    this.#cancel(peerId);
    this.#init.leave(peerId, 'disconnected');
  }

  /** Whether the peer's leave is pending (tests). */
  pending(peerId: string): boolean {
    return this.#pending.has(peerId);
  }

  stop(): void {
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }

  #cancel(peerId: string): void {
    clearTimeout(this.#pending.get(peerId));
    this.#pending.delete(peerId);
  }
}
