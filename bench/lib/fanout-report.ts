// Small statistics and text-table helpers for the fan-out benchmark.

export const MiB = 1024 * 1024;

/** Nearest-rank percentile (p in 0..100) of the finite values; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export interface Spread {
  readonly n: number;
  readonly min: number;
  readonly median: number;
  readonly p95: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v));
  return {
    n: finite.length,
    min: finite.length ? Math.min(...finite) : Number.NaN,
    median: median(finite),
    p95: percentile(finite, 95),
    max: finite.length ? Math.max(...finite) : Number.NaN,
  };
}

export function fmt(value: number | undefined, digits = 2): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return value.toFixed(digits);
}

export const mib = (bytes: number, digits = 1): string => fmt(bytes / MiB, digits);
export const mbit = (bytes: number, seconds: number): string => fmt((bytes * 8) / 1e6 / seconds, 0);

/** A plain text table: first row is the header; columns padded; numbers right-aligned. */
export function table(rows: ReadonlyArray<ReadonlyArray<string>>): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const numeric = (s: string): boolean => /^[-–≤≥<>~+]?\s?[\d.]+/.test(s) || s === '–';
  const line = (row: ReadonlyArray<string>): string =>
    row
      .map((cell, i) => (i > 0 && numeric(cell) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const [head, ...body] = rows;
  if (!head) return '';
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function progress(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}
