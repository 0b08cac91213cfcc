// The body of a response read by http1-client.ts, passed on in write batches: the first
// `eagerBytes` read by read, the rest in batches of `batchBytes`, each held once for the reader
// (whoever writes one gives it back: store/write-batches.ts). A body with a Content-Length is
// read by the socket straight into the batch being filled (target()); a chunked body, or one that
// ends with the connection, is read into the connection's own buffer and copied in (receive()).
import { Readable } from 'node:stream';
import { PARTIAL_PUSH_MS, type BodyBatches, type BodyLink, type Framing } from './http1-body-parts.ts';

/** Longest chunk-size or trailer line of a chunked body. */
const MAX_LINE = 4096;

export class Http1Body extends Readable {
  readonly #framing: Framing['kind'];
  /** Length framing: bytes still to come; chunked: bytes left of the current chunk. */
  #remaining: number;
  #passed = 0;
  #batch: Buffer | undefined;
  #filled = 0;
  /** Bytes of the batch being filled already passed on (PARTIAL_PUSH_MS). */
  #pushed = 0;
  /** When (performance.now()) the batch got bytes not yet passed on; 0: none. */
  #unpushedSince = 0;
  #partialTimer: NodeJS.Timeout | undefined;
  #done = false;
  /** Chunked framing: what the next bytes are. */
  #chunkState: 'size' | 'data' | 'data-end' | 'trailer' = 'size';
  /** Waiting for the room to have a batch for it. */
  #waitingRoom = false;
  #line = '';
  readonly #batches: BodyBatches;
  readonly #link: BodyLink;
  readonly #label: string;

  constructor(framing: Framing, batches: BodyBatches, link: BodyLink, label: string) {
    super({ highWaterMark: batches.batchBytes });
    this.#framing = framing.kind;
    this.#remaining = framing.kind === 'length' ? framing.length : 0;
    this.#batches = batches;
    this.#link = link;
    this.#label = label;
    // Bytes past the length in the head's own read fail the body before anyone reads it: that must
    // not be an uncaught exception. Readers still see the error (their listener, for await, errored).
    this.on('error', () => undefined);
    if (framing.kind === 'length' && framing.length === 0) this.#end();
  }

  /**
   * Where the next socket read may land with no copy: the free part of the batch being filled, no
   * longer than the body's rest. Undefined: into the connection's buffer (then receive()).
   */
  target(): Buffer | undefined {
    if (this.#framing !== 'length' || this.#done || this.destroyed) return undefined;
    // With the room full the socket is stopped (#add): its next read, once let go, lands in the
    // connection's buffer and is copied into a batch taken then.
    if (!this.#mayTake()) return undefined;
    const room = Math.min(this.#room(), this.#remaining);
    return this.#batch!.subarray(this.#filled, this.#filled + room);
  }

  /** Bytes the batch being filled (taken now if there is none) takes before it is passed on. */
  #room(): number {
    const { eagerBytes, batchBytes } = this.#batches;
    const eager = this.#passed < eagerBytes;
    this.#batch ??= this.#batches.takeBatch(eager ? eagerBytes : batchBytes);
    if (eager) return eagerBytes - this.#passed;
    const start = this.#passed - this.#filled;
    return (this.#batches.alignBatches === true ? batchBytes - (start % batchBytes) : batchBytes) - this.#filled;
  }

  /** `length` bytes were read into the last target(); false: the reader is behind, pause the socket. */
  landed(length: number): boolean {
    return this.#add(length);
  }

  /** Takes buffer[start, end) in; false: the reader is behind, pause the socket. */
  receive(buffer: Buffer, start: number, end: number): boolean {
    if (this.#framing === 'chunked') return this.#receiveChunked(buffer, start, end);
    if (this.#framing === 'length' && end - start > this.#remaining) {
      this.#link.abort(new Error(`${this.#label} sent more than the ${this.#passed + this.#remaining} bytes it announced`));
      return false;
    }
    return this.#copy(buffer, start, end);
  }

  /** Close framing: the connection ended, and with it the body. */
  connectionEnded(): void {
    if (this.#framing !== 'close' || this.#done) return;
    this.#flushRest();
    this.#end(false);
  }

  get done(): boolean {
    return this.#done;
  }

  #copy(buffer: Buffer, start: number, end: number): boolean {
    let room = true;
    for (let at = start; at < end; ) {
      const take = Math.min(end - at, this.#room(), this.#framing === 'chunked' ? this.#remaining : Infinity);
      buffer.copy(this.#batch!, this.#filled, at, at + take);
      at += take;
      room = this.#add(take) && room;
    }
    return room;
  }

  /** `take` more bytes are in the batch: passed on when the batch is full, eager, or the body ends. */
  #add(take: number): boolean {
    const eager = this.#passed < this.#batches.eagerBytes;
    const full = take === this.#room();
    this.#filled += take;
    this.#passed += take;
    if (this.#framing !== 'close') this.#remaining -= take;
    const last = this.#framing === 'length' && this.#remaining === 0;
    const room = eager || full || last ? this.#flush() : this.#holdPartial();
    if (last) this.#end();
    if (this.#done || this.#mayTake()) return room;
    // The room is full: no more reads until it lets this body go on (and its reader wants more).
    this.#waitForRoom();
    return false;
  }

  /** Whether the body may read on: it has a batch to fill, or the room has one for it. */
  #mayTake(): boolean {
    return this.#batch !== undefined || this.#batches.room === undefined || this.#batches.room.free();
  }

  #waitForRoom(): void {
    if (this.#waitingRoom) return;
    this.#waitingRoom = true;
    this.#batches.room!.whenFree(() => {
      this.#waitingRoom = false;
      // A reader still holding its buffer's worth asks again (_read) once it took some.
      if (!this.#done && !this.destroyed && this.readableLength < this.readableHighWaterMark) this.#link.resume();
    });
  }

  #receiveChunked(buffer: Buffer, start: number, end: number): boolean {
    let room = true;
    for (let at = start; at < end && !this.#done; ) {
      if (this.#chunkState === 'data') {
        const take = Math.min(end - at, this.#remaining);
        room = this.#copy(buffer, at, at + take) && room;
        at += take;
        if (this.#remaining === 0) this.#chunkState = 'data-end';
        continue;
      }
      const found = buffer.subarray(at, end).indexOf(10);
      const stop = found < 0 ? end : at + found;
      this.#line += buffer.toString('latin1', at, stop);
      at = found < 0 ? end : stop + 1;
      if (this.#line.length > MAX_LINE) return this.#fail(`${this.#label} sent a chunked body line over ${MAX_LINE} bytes`);
      if (found < 0) break;
      const line = this.#line.replace(/\r$/, '');
      this.#line = '';
      if (this.#chunkState === 'data-end') {
        if (line !== '') return this.#fail(`${this.#label} sent a chunk longer than its size line said`);
        this.#chunkState = 'size';
      } else if (this.#chunkState === 'size') {
        const size = /^([0-9a-fA-F]{1,12})\s*(;.*)?$/.exec(line)?.[1];
        if (size === undefined) return this.#fail(`${this.#label} sent a chunked body with a bad chunk size line ${JSON.stringify(line.slice(0, 40))}`);
        this.#remaining = Number.parseInt(size, 16);
        this.#chunkState = this.#remaining === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        room = this.#flushRest() && room;
        if (at < end) return this.#fail(`${this.#label} sent bytes after the end of a chunked body`);
        this.#end();
      }
    }
    return room;
  }

  #fail(message: string): boolean {
    this.#link.abort(new Error(message));
    return false;
  }

  /** Passes the batch's bytes not yet passed on, with the body's hold on it. */
  #flush(): boolean {
    const batch = this.#batch!;
    const filled = this.#filled;
    const pushed = this.#pushed;
    this.#batch = undefined;
    this.#filled = 0;
    this.#pushed = 0;
    this.#unpushedSince = 0;
    return this.push(pushed === 0 && filled === batch.byteLength ? batch : batch.subarray(pushed, filled));
  }

  /** At the body's end: the batch's last bytes, or its hold given back when they all went (#pushPartial). */
  #flushRest(): boolean {
    if (this.#filled > this.#pushed) return this.#flush();
    if (this.#batch && this.#filled > 0) this.#batches.holds?.release(this.#batch);
    this.#batch = undefined;
    this.#filled = 0;
    this.#pushed = 0;
    return true;
  }

  /** Bytes stay in the batch until it is full; a timer passes them on if that takes too long. */
  #holdPartial(): true {
    if (this.#batches.holds === undefined) return true;
    if (this.#unpushedSince === 0) this.#unpushedSince = performance.now();
    if (this.#partialTimer === undefined) this.#armPartial(PARTIAL_PUSH_MS);
    return true;
  }

  #armPartial(ms: number): void {
    this.#partialTimer = setTimeout(() => this.#pushPartial(), ms);
    this.#partialTimer.unref();
  }

  /**
   * The batch's waiting bytes as a view of it, held on their own; the batch fills on behind them
   * (the socket's next read may already target its free part). The receive room stops counting
   * the batch at the first release of any view (write-batches.ts): one batch per slow body.
   */
  #pushPartial(): void {
    this.#partialTimer = undefined;
    const batch = this.#batch;
    if (this.#done || this.destroyed || !batch || this.#unpushedSince === 0) return;
    const waited = performance.now() - this.#unpushedSince;
    if (waited < PARTIAL_PUSH_MS) return this.#armPartial(Math.ceil(PARTIAL_PUSH_MS - waited));
    const view = batch.subarray(this.#pushed, this.#filled);
    this.#batches.holds!.retain(view);
    this.#pushed = this.#filled;
    this.#unpushedSince = 0;
    this.push(view);
  }

  #end(reusable = true): void {
    clearTimeout(this.#partialTimer);
    this.#done = true;
    this.push(null);
    this.#link.finished(reusable);
  }

  /** Reads the rest and drops it when it is at most `limit` bytes (the connection stays reusable), else breaks off. */
  async dump(options: { limit?: number } = {}): Promise<void> {
    const limit = options.limit ?? 128 * 1024;
    if (this.#done && this.readableLength === 0) return;
    if (this.#framing !== 'length' || this.#remaining > limit) {
      this.destroy();
      return;
    }
    for await (const chunk of this) void chunk;
  }

  override _read(): void {
    if (this.#done || this.#mayTake()) this.#link.resume();
    else this.#waitForRoom();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#partialTimer);
    // Gone before its last byte: the connection is mid-body and cannot be reused.
    if (!this.#done) this.#link.abort(error ?? new Error('the response body was abandoned'));
    callback(error);
  }
}
