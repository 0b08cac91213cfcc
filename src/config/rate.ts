// Bandwidth caps and the other neighbour settings' values: rates in bits (as links are sold) or
// bytes per second, a count of concurrent requests, and the range-fetch mode.
import { InvalidValueError, parseSize } from './parse.ts';

const RATE_EXPECTED = 'expected a rate such as 50Mbit, 1Gbit, 800kbit, 20MB/s or 6MiB/s (0 = unlimited)';
const BIT_UNITS: Readonly<Record<string, number>> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/** A bandwidth cap in bytes per second; 0 means unlimited. `/s` and `ps` suffixes are optional. */
export function parseRate(raw: string): number {
  const text = raw.trim().replace(/(?:\/s|ps)$/i, '');
  if (text === '0') return 0;
  const bits = /^(\d+(?:\.\d+)?) ?([kmg]?bit)s?$/i.exec(text);
  if (bits) {
    const bytes = Math.round((Number(bits[1]) * BIT_UNITS[bits[2]!.toLowerCase()]!) / 8);
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new InvalidValueError(RATE_EXPECTED);
    return bytes;
  }
  try {
    const bytes = parseSize(text);
    if (bytes > 0) return bytes;
  } catch {
    // falls through to the rate message, which names bit units too
  }
  throw new InvalidValueError(RATE_EXPECTED);
}

/** The rate as the docs and `shoal status` say it: Mbit/s, as links are sold. */
export function formatRate(bytesPerSecond: number): string {
  if (bytesPerSecond <= 0) return 'unlimited';
  const mbit = (bytesPerSecond * 8) / 1e6;
  return `${mbit >= 100 ? mbit.toFixed(0) : mbit >= 10 ? mbit.toFixed(1) : mbit.toFixed(2)} Mbit/s`;
}

export function parseServeLimit(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1 || n > 10_000) throw new InvalidValueError('expected a whole number of requests from 1 to 10000');
  return n;
}

export type RangeFetch = 'fetch-all' | 'range-only';

export function parseRangeFetch(raw: string): RangeFetch {
  if (raw === 'fetch-all' || raw === 'range-only') return raw;
  throw new InvalidValueError('expected fetch-all or range-only');
}
