// Which bytes of a blob being written are present, and the writes in flight that add more: fixed-
// size pieces filled in any order and from several sources, each from where its fill started
// (piece-fill.ts), written to the blob's temp file and recorded in order, so the bytes present
// never have a gap. The blob (partial.ts) decides what a recorded write means for its readers.
import type { FileHandle } from 'node:fs/promises';
import { nextRun, presentTo } from './piece-fill.ts';

export class PieceWrites {
  readonly size: number;
  readonly pieceSize: number;
  readonly pieceCount: number;
  readonly #handle: FileHandle;
  readonly #filled: Float64Array;
  /** Bytes of each piece claimed by writes still in flight, after its #filled ones: the next write goes on after them. */
  readonly #claimed: Float64Array;
  /** Offset in each piece where its fill started (see piece-fill.ts). */
  readonly #fillStart: Float64Array;
  /** The last write in flight into each piece: a write that goes on from it is recorded only after it. */
  readonly #lastInPiece = new Map<number, Promise<void>>();
  readonly #writes = new Set<Promise<unknown>>();
  /** The sum of #filled, kept as it changes: disk accounting reads it at every write. */
  #received = 0;

  constructor(size: number, pieceSize: number, handle: FileHandle) {
    this.size = size;
    this.pieceSize = pieceSize;
    this.pieceCount = size === 0 ? 0 : Math.ceil(size / pieceSize);
    this.#handle = handle;
    this.#filled = new Float64Array(this.pieceCount);
    this.#claimed = new Float64Array(this.pieceCount);
    this.#fillStart = new Float64Array(this.pieceCount);
  }

  pieceStart(index: number): number {
    return index * this.pieceSize;
  }

  pieceLength(index: number): number {
    return Math.min(this.pieceSize, this.size - index * this.pieceSize);
  }

  pieceFilled(index: number): number {
    return this.#filled[index] ?? 0;
  }

  isPieceComplete(index: number): boolean {
    return this.pieceFilled(index) === this.pieceLength(index);
  }

  /** Marks a piece present as a whole (kept from before a restart). */
  keep(index: number): void {
    this.#received += this.pieceLength(index) - this.pieceFilled(index);
    this.#filled[index] = this.pieceLength(index);
  }

  /** Forgets a piece's bytes; true when it was complete. */
  reset(index: number): boolean {
    const wasComplete = this.isPieceComplete(index);
    this.#received -= this.pieceFilled(index);
    this.#filled[index] = 0;
    this.#fillStart[index] = 0;
    return wasComplete;
  }

  get received(): number {
    return this.#received;
  }

  availableFrom(position: number): number {
    if (position >= this.size) return this.size;
    let index = Math.floor(position / this.pieceSize);
    let offset = position - this.pieceStart(index);
    for (;;) {
      const length = this.pieceLength(index);
      const to = presentTo(this.#fillStart[index]!, this.pieceFilled(index), length, offset);
      if (to < length || index + 1 >= this.pieceCount) return this.pieceStart(index) + to;
      index += 1;
      offset = 0;
    }
  }

  nextFill(index: number, from?: number): { start: number; end: number } {
    const base = this.pieceStart(index);
    const run = nextRun(this.#fillStart[index]!, this.pieceFilled(index), this.pieceLength(index), from === undefined ? undefined : from - base);
    return { start: base + run.start, end: base + run.end };
  }

  /**
   * Writes `chunk` at `offset` (see PartialBlob.write for what may be written where), then, once
   * the writes it goes on from are recorded, records it unless `record` says no more (the blob
   * failed meanwhile), and calls `recorded` with whether a piece became complete.
   */
  async write(offset: number, chunk: Uint8Array, record: () => boolean, recorded: (completed: boolean) => void): Promise<void> {
    if (offset < 0 || offset + chunk.byteLength > this.size) throw new RangeError(`write of ${chunk.byteLength} bytes at ${offset} is outside the ${this.size}-byte blob`);
    const writeEnd = offset + chunk.byteLength;
    for (let position = offset; position < writeEnd; ) {
      const index = Math.floor(position / this.pieceSize);
      const base = this.pieceStart(index);
      const run = nextRun(this.#fillStart[index]!, this.#filled[index]! + this.#claimed[index]!, this.pieceLength(index), position - base);
      if (base + run.start !== position) throw new Error(`write at ${position} does not continue piece ${index} (its fill goes on at ${base + run.start})`);
      if (writeEnd > base + run.end && run.end < this.pieceLength(index)) {
        throw new Error(`write at ${position} does not continue piece ${index}: it runs into the piece's bytes present from ${base + run.end}`);
      }
      position = Math.min(writeEnd, base + run.end);
    }
    const before: Array<Promise<void>> = [];
    this.#forEachPiece(offset, writeEnd, (index, from, bytes) => {
      if (this.#claimed[index]! > 0) before.push(this.#lastInPiece.get(index)!);
      else if (this.#filled[index] === 0) this.#fillStart[index] = from - this.pieceStart(index);
      this.#claimed[index]! += bytes;
    });
    const write = this.#land(offset, chunk, before, record, recorded);
    this.#forEachPiece(offset, writeEnd, (index) => this.#lastInPiece.set(index, write));
    this.#writes.add(write);
    try {
      await write;
    } finally {
      this.#writes.delete(write);
      this.#forEachPiece(offset, writeEnd, (index) => {
        if (this.#lastInPiece.get(index) === write) this.#lastInPiece.delete(index);
      });
    }
  }

  /** Settles once every write in flight did. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#writes]);
  }

  /** Writes the bytes, then records them once the writes they go on from (`before`, in flight) are recorded. */
  async #land(offset: number, chunk: Uint8Array, before: ReadonlyArray<Promise<void>>, record: () => boolean, recorded: (completed: boolean) => void): Promise<void> {
    let failure: { error: unknown } | undefined;
    const failed = (error: unknown): void => {
      failure ??= { error };
    };
    await this.#writeAll(chunk, offset).catch(failed);
    for (const write of before) await write.catch(failed);
    const writeEnd = offset + chunk.byteLength;
    this.#forEachPiece(offset, writeEnd, (index, _from, bytes) => {
      this.#claimed[index]! -= bytes;
    });
    if (failure) throw failure.error;
    if (!record()) return;
    let completed = false;
    this.#forEachPiece(offset, writeEnd, (index, from, bytes) => {
      if (this.#filled[index] === 0) this.#fillStart[index] = from - this.pieceStart(index);
      const filled = Math.min(this.pieceLength(index), this.#filled[index]! + bytes);
      this.#received += filled - this.#filled[index]!;
      this.#filled[index] = filled;
      completed ||= this.isPieceComplete(index);
    });
    recorded(completed);
  }

  /** Calls `each` with every piece [start, end) falls in, where in the blob its part starts, and how long it is. */
  #forEachPiece(start: number, end: number, each: (index: number, from: number, bytes: number) => void): void {
    for (let position = start; position < end; ) {
      const index = Math.floor(position / this.pieceSize);
      const upTo = Math.min(end, this.pieceStart(index) + this.pieceLength(index));
      each(index, position, upTo - position);
      position = upTo;
    }
  }

  /** Only a chunk handed over (coalesce.ts's batches): a caller may refill any other once its write is done. */
  async #writeAll(chunk: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < chunk.byteLength) {
      const { bytesWritten } = await this.#handle.write(chunk, done, chunk.byteLength - done, position + done);
      done += bytesWritten;
    }
  }
}
