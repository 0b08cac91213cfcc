// What the upstream client throws besides OciError (auth) and undefined (not found).

/** The upstream could not be reached or is not serving right now: network error, timeout, 5xx, 429. */
export class UpstreamUnavailableError extends Error {
  /** host[:port] of the upstream */
  readonly upstream: string;
  /** The HTTP status when the upstream answered (5xx, 429); undefined for network errors and timeouts. */
  readonly status: number | undefined;
  /** From Retry-After, when the upstream sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(upstream: string, message: string, options?: { status?: number; retryAfterMs?: number; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = 'UpstreamUnavailableError';
    this.upstream = upstream;
    this.status = options?.status;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** The upstream answered something this client did not expect (an odd status, a digest mismatch, a malformed reply). */
export class UpstreamError extends Error {
  readonly upstream: string;
  /** The HTTP status of the answer; for a reply that was 200 but wrong (digest mismatch), that 200. */
  readonly status: number;

  constructor(upstream: string, status: number, message: string, options?: { cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = 'UpstreamError';
    this.upstream = upstream;
    this.status = status;
  }
}

export function isUpstreamUnavailable(error: unknown): error is UpstreamUnavailableError {
  return error instanceof UpstreamUnavailableError;
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\s*\d+\s*$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  return Number.isNaN(when) ? undefined : Math.max(0, when - now);
}
