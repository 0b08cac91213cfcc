import fc from 'fast-check';
import type { ByteRange } from '../../src/oci/index.ts';

export interface BlobShape {
  readonly size: number;
  readonly pieceSize: number;
  /** Bytes per write. */
  readonly chunk: number;
}

export interface BlobScenario {
  readonly s: BlobShape;
  /** Every piece index, in the order the pieces are written. */
  readonly order: number[];
  /** Writers at once. */
  readonly parallel: number;
  /** A range of the blob for a reader. */
  readonly range: ByteRange;
}

export interface ScenarioLimits {
  readonly maxSize: number;
  readonly pieceSize: readonly [number, number];
  readonly chunk: readonly [number, number];
  readonly maxParallel: number;
}

/** Random partial-blob writes for property tests, plus `extra` arbitraries made per blob (the piece count known). */
export function blobScenario<E extends Record<string, unknown>>(limits: ScenarioLimits, extra: (s: BlobShape, indexes: number[]) => { [K in keyof E]: fc.Arbitrary<E[K]> }): fc.Arbitrary<BlobScenario & E> {
  return fc
    .record({
      size: fc.integer({ min: 1, max: limits.maxSize }),
      pieceSize: fc.integer({ min: limits.pieceSize[0], max: limits.pieceSize[1] }),
      chunk: fc.integer({ min: limits.chunk[0], max: limits.chunk[1] }),
    })
    .chain((s) => {
      const count = Math.ceil(s.size / s.pieceSize);
      const indexes = Array.from({ length: count }, (_, i) => i);
      const base = {
        s: fc.constant(s),
        order: fc.shuffledSubarray(indexes, { minLength: count, maxLength: count }),
        parallel: fc.integer({ min: 1, max: limits.maxParallel }),
        range: fc.tuple(fc.nat(s.size - 1), fc.nat(s.size - 1)).map(([a, b]): ByteRange => ({ start: Math.min(a, b), end: Math.max(a, b) })),
      };
      return fc.record({ ...base, ...extra(s, indexes) }) as unknown as fc.Arbitrary<BlobScenario & E>;
    });
}
