import type { Readable } from 'node:stream';
import { rangeFillStart } from './range-first.ts';

/**
 * Pieces asked for by Range reads (peers asking this host as their owner, or local clients): who
 * asked (a peer is never asked back for the piece), from which byte (the piece is fetched from
 * there, so the first ask's bytes come first), and the readers serving them, which fail at once
 * when the piece cannot be had instead of leaving the asker waiting for its idle timeout.
 */
export class PieceDemand {
  readonly #askers = new Map<number, Set<string>>();
  readonly #readers = new Map<number, Set<Readable>>();
  readonly #from = new Map<number, number>();

  /** `rangeStart`: the first byte the reader wants (it may lie before this piece). */
  add(index: number, asker: string, reader: Readable, rangeStart?: number): void {
    if (rangeStart !== undefined && !this.#from.has(index)) this.#from.set(index, rangeFillStart(rangeStart));
    const askers = this.#askers.get(index) ?? new Set<string>();
    askers.add(asker);
    this.#askers.set(index, askers);
    const readers = this.#readers.get(index) ?? new Set<Readable>();
    readers.add(reader);
    this.#readers.set(index, readers);
    reader.once('close', () => readers.delete(reader));
  }

  /** Where the first ask of piece `index` wants its fill to start, if anywhere. */
  from(index: number): number | undefined {
    return this.#from.get(index);
  }

  has(index: number): boolean {
    return this.#askers.has(index);
  }

  askers(index: number): ReadonlySet<string> {
    return this.#askers.get(index) ?? new Set();
  }

  /** Pieces still asked for (complete ones are dropped), lowest first. */
  open(isComplete: (index: number) => boolean): number[] {
    for (const index of [...this.#askers.keys()]) if (isComplete(index)) this.done(index);
    return [...this.#askers.keys()].sort((a, b) => a - b);
  }

  done(index: number): void {
    this.#askers.delete(index);
    this.#readers.delete(index);
    this.#from.delete(index);
  }

  failed(index: number, error: unknown): void {
    const readers = this.#readers.get(index);
    this.done(index);
    for (const reader of readers ?? []) reader.destroy(error instanceof Error ? error : new Error(String(error)));
  }

  failAll(error: (index: number) => unknown): void {
    for (const index of [...this.#askers.keys()]) this.failed(index, error(index));
  }
}
