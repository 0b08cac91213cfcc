// An HTTP/1.1 response head as the body client (http1-client.ts) reads it: status, headers, how
// the body is framed, and how long the connection may be kept; and the client's error type.
import type { Framing } from './http1-body-parts.ts';

/**
 * A failure with the code undici gives the same one (UND_ERR_HEADERS_TIMEOUT, ...): the upstream
 * transport maps errors by code, and logs and their readers know those names.
 */
export class Http1Error extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** An idle connection is closed after this long, or earlier when the server says it closes sooner (Keep-Alive: timeout). */
const KEEP_ALIVE_MS = 30_000;

export interface ParsedHead {
  readonly status: number;
  readonly headers: Map<string, string>;
  readonly fields: Record<string, string | string[]>;
  readonly framing: Framing;
  /** How long the connection may idle after this response; 0: it closes. */
  readonly keepAliveMs: number;
}

export function parseHead(text: string, label: string, requireLength: boolean): ParsedHead {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
  if (status === undefined) throw new Http1Error('UND_ERR_INVALID_RESPONSE', `${label} answered with no HTTP status line (${JSON.stringify(statusLine.slice(0, 40))})`);
  const headers = new Map<string, string>();
  // No prototype: a header named __proto__ is a header like any other.
  const fields = Object.create(null) as Record<string, string | string[]>;
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const earlier = headers.get(name);
    headers.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
    const field = fields[name];
    fields[name] = field === undefined ? value : [...(Array.isArray(field) ? field : [field]), value];
  }
  const length = headers.get('content-length');
  const encoding = headers.get('transfer-encoding');
  const lengthValid = length !== undefined && /^\d+$/.test(length);
  if (requireLength && (encoding !== undefined || !lengthValid)) throw new Http1Error('UND_ERR_INVALID_RESPONSE', `${label} answered without a Content-Length`);
  if (encoding === undefined && length !== undefined && !lengthValid) throw new Http1Error('UND_ERR_INVALID_RESPONSE', `${label} answered with Content-Length ${JSON.stringify(length.slice(0, 40))}`);
  const closes = /\bclose\b/i.test(headers.get('connection') ?? '') || statusLine.startsWith('HTTP/1.0');
  const noBody = status === '204' || status === '304' || status.startsWith('1');
  const framing: Framing = noBody
    ? { kind: 'length', length: 0 }
    : encoding !== undefined
      ? /(^|,)\s*chunked\s*$/i.test(encoding) ? { kind: 'chunked' } : { kind: 'close' }
      : lengthValid
        ? { kind: 'length', length: Number(length) }
        : { kind: 'close' };
  const hinted = /timeout=(\d+)/i.exec(headers.get('keep-alive') ?? '')?.[1];
  // A second short of the server's own idle limit: a request must not meet the connection as it closes.
  const keepAliveMs = closes || framing.kind === 'close' ? 0 : Math.min(KEEP_ALIVE_MS, hinted === undefined ? KEEP_ALIVE_MS : Number(hinted) * 1000 - 1000);
  return { status: Number(status), headers, fields, framing, keepAliveMs };
}
