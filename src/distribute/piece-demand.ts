import type { Readable } from 'node:stream';

/**
 * Pieces peers asked this host for as their owner: who asked (they are never asked back for the
 * piece) and the readers serving them, which fail at once when the piece cannot be had instead of
 * leaving the asker waiting for its idle timeout.
 */
export class PieceDemand {
  readonly #askers = new Map<number, Set<string>>();
  readonly #readers = new Map<number, Set<Readable>>();

  add(index: number, asker: string, reader: Readable): void {
    const askers = this.#askers.get(index) ?? new Set<string>();
    askers.add(asker);
    this.#askers.set(index, askers);
    const readers = this.#readers.get(index) ?? new Set<Readable>();
    readers.add(reader);
    this.#readers.set(index, readers);
    reader.once('close', () => readers.delete(reader));
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
