// A hard cap on the bytes every response a node serves holds in writes its client has not taken
// yet. A chunk handed to a socket whose kernel buffer is full stays in memory until the client
// reads: in a crowd whose clients are slower than the node (bench/memory.bench.ts, 200 clients, 600
// responses) nearly every response held one, 19 MiB of 32 KiB chunks, plus the pool and garbage
// around them. With this room a response asks for its next chunk's bytes before it reads the
// chunk, and gives them back once the write called back: the others wait, holding nothing. The
// kernel's socket buffers (not this process's memory) still hold plenty for each client to read
// meanwhile, so the clients' pace is the same.
// A write whose client takes nothing for STALL_MS is written off: its bytes stay held (nothing can
// take them back from the socket) but stop counting, so stalled or hostile clients cannot keep the
// room full and starve everyone else. Written-off bytes have a budget of their own: past it, a
// write is written off only after LONG_STALL_MS. Clients that are merely slow (a crowd on a busy
// machine) had their writes written off one after another, and each held its chunk: 600 responses,
// 40-60 MiB of chunks beyond the room (bench/memory.bench.ts at load 14-24). Truly stalled clients
// still cannot hold the others back for longer than LONG_STALL_MS.

/** Bytes of unwritten chunks all responses may hold at once (more than any one response asks for). */
export const SEND_ROOM_BYTES = 4 * 1024 * 1024;
/** A write pending this long no longer counts against the room (its client stalled), while the write-off budget lasts. */
export const STALL_MS = 250;
/** Bytes of written-off writes not yet called back, at most, before write-offs wait LONG_STALL_MS. */
export const WRITE_OFF_BYTES = 4 * 1024 * 1024;
/** A write pending this long is written off whatever the budget. */
export const LONG_STALL_MS = 5_000;

/** Bytes taken from a room, given back once (more calls are harmless). */
export interface Grant {
  readonly bytes: number;
  release(): void;
}

interface Held {
  readonly bytes: number;
  readonly at: number;
  /** Released, or written off as stalled: counts no more. */
  done: boolean;
  /** Written off and not released yet: counts against the write-off budget. */
  writtenOff: boolean;
}

interface Waiter {
  readonly bytes: number;
  readonly grant: (grant: Grant) => void;
}

export class SendRoom {
  readonly #limit: number;
  readonly #stallMs: number;
  readonly #writeOffBytes: number;
  readonly #longStallMs: number;
  #used = 0;
  #writtenOff = 0;
  /** Grants in the order given, for the stall check (released ones are dropped from the front). */
  readonly #held: Held[] = [];
  readonly #waiting: Waiter[] = [];
  #stallTimer: NodeJS.Timeout | undefined;

  constructor(limitBytes = SEND_ROOM_BYTES, stallMs = STALL_MS, writeOffBytes = WRITE_OFF_BYTES, longStallMs = LONG_STALL_MS) {
    this.#limit = limitBytes;
    this.#stallMs = stallMs;
    this.#writeOffBytes = writeOffBytes;
    this.#longStallMs = longStallMs;
  }

  /** Bytes held by grants that still count. */
  get used(): number {
    return this.#used;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Bytes of written-off grants not given back yet. */
  get writtenOff(): number {
    return this.#writtenOff;
  }

  /**
   * A grant of `bytes` now, if the room has them (a request larger than the whole room is granted
   * once nothing else counts), and no one asked before; else undefined (see wait).
   */
  tryTake(bytes: number): Grant | undefined {
    if (this.#waiting.length > 0 || !this.#fits(bytes)) return undefined;
    return this.#give(bytes);
  }

  /** A grant of `bytes` once they fit, first come first served. */
  take(bytes: number): Promise<Grant> {
    const now = this.tryTake(bytes);
    if (now) return Promise.resolve(now);
    return new Promise<Grant>((grant) => {
      this.#waiting.push({ bytes, grant });
      this.#watchStalls();
    });
  }

  #fits(bytes: number): boolean {
    return this.#used === 0 || this.#used + bytes <= this.#limit;
  }

  #give(bytes: number): Grant {
    const held: Held = { bytes, at: performance.now(), done: false, writtenOff: false };
    this.#used += bytes;
    this.#held.push(held);
    return {
      bytes,
      release: () => {
        if (held.writtenOff) {
          held.writtenOff = false;
          this.#writtenOff -= held.bytes;
          if (this.#waiting.length > 0) this.#rewatchStalls();
        }
        if (held.done) return;
        this.#stopCounting(held);
        this.#trim();
        this.#serve();
      },
    };
  }

  /** When `held`, pending, may be written off: after STALL_MS while the budget has room for it, else after LONG_STALL_MS. */
  #writeOffAt(held: Held): number {
    return held.at + (this.#writtenOff + held.bytes <= this.#writeOffBytes ? this.#stallMs : this.#longStallMs);
  }

  /**
   * Drops released grants from the front, and writes off the stalled ones found there, so the
   * oldest counting grant is first and a stalled one does not keep the list growing behind it.
   */
  #trim(): void {
    const now = performance.now();
    let drop = 0;
    for (; drop < this.#held.length; drop++) {
      const held = this.#held[drop]!;
      if (held.done) continue;
      if (this.#writeOffAt(held) > now) break;
      this.#writeOff(held);
    }
    if (drop > 0) this.#held.splice(0, drop);
  }

  #stopCounting(held: Held): void {
    if (held.done) return;
    held.done = true;
    this.#used -= held.bytes;
  }

  #writeOff(held: Held): void {
    if (held.done) return;
    this.#stopCounting(held);
    held.writtenOff = true;
    this.#writtenOff += held.bytes;
  }

  #serve(): void {
    while (this.#waiting.length > 0 && this.#fits(this.#waiting[0]!.bytes)) {
      const waiter = this.#waiting.shift()!;
      waiter.grant(this.#give(waiter.bytes));
    }
    if (this.#waiting.length === 0) this.#clearStallTimer();
  }

  /** While someone waits, writes off the grants pending longer than the stall time, when they get there. */
  #watchStalls(): void {
    if (this.#stallTimer) return;
    const oldest = this.#held.find((held) => !held.done);
    if (!oldest) return;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      for (const held of this.#held) if (!held.done && this.#writeOffAt(held) <= performance.now()) this.#writeOff(held);
      this.#trim();
      this.#serve();
      if (this.#waiting.length > 0) this.#watchStalls();
    }, Math.max(1, this.#writeOffAt(oldest) - performance.now()));
  }

  /** The budget grew back: a write-off put off to LONG_STALL_MS may be due sooner. */
  #rewatchStalls(): void {
    this.#clearStallTimer();
    this.#watchStalls();
  }

  #clearStallTimer(): void {
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
  }
}

/** The room every response of this process shares (clients and peers alike). */
export const sendRoom = new SendRoom();
