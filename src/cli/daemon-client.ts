// How the client commands (prefetch, status, doctor) reach the local daemon: its registry API at
// the configured --listen address, and the status snapshot at GET /_shoal/status.
import { isIP } from 'node:net';
import { formatHostPort, isUnspecifiedIp, type HostPort } from '../config/parse.ts';
import type { NodeStatus } from '../daemon/status.ts';
import { daemonAuthHeaders } from './daemon-auth.ts';

export type { NodeStatus } from '../daemon/status.ts';

export const START_HINT = 'is shoal running? start it with npm start / systemctl start shoal (or pass --listen HOST:PORT if it listens elsewhere)';

/** The daemon could not be reached at all: the message says what to do. */
export class DaemonUnreachableError extends Error {
  readonly baseUrl: string;
  constructor(baseUrl: string, cause: unknown) {
    super(`cannot reach the shoal daemon at ${baseUrl} (${describeNetworkError(cause)}); ${START_HINT}`);
    this.name = 'DaemonUnreachableError';
    this.baseUrl = baseUrl;
  }
}

/** A request the daemon answered with an error; `message` is the daemon's own (the spec's error body). */
export class DaemonRequestError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  constructor(message: string, status: number, code: string | undefined) {
    super(message);
    this.name = 'DaemonRequestError';
    this.status = status;
    this.code = code;
  }
}

/**
 * The URL to reach a daemon listening on `listen`: a wildcard listen address (0.0.0.0, ::) is
 * reached on loopback of its family.
 */
export function daemonBaseUrl(listen: HostPort): string {
  let host = listen.host;
  if (isUnspecifiedIp(host)) host = isIP(host) === 6 ? '::1' : '127.0.0.1';
  return `http://${formatHostPort({ host, port: listen.port })}`;
}

/** `ECONNREFUSED`, `timed out after 5 s`, ... from fetch's nested causes. */
export function describeNetworkError(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code !== '' && !code.startsWith('UND_ERR_')) return code;
    if (current.name === 'TimeoutError') return 'timed out';
    if (current.cause === undefined) return current.message;
    current = current.cause;
  }
  return error instanceof Error ? error.message : String(error);
}

/** GET `path` on the daemon; network failures become DaemonUnreachableError. */
export async function daemonFetch(baseUrl: string, path: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<Response> {
  try {
    return await fetch(new URL(path, baseUrl), { ...init, headers: { ...daemonAuthHeaders(), ...(init.headers as Record<string, string> | undefined) }, signal: init.signal ?? AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new DaemonUnreachableError(baseUrl, error);
  }
}

/** The daemon's status snapshot. */
export async function fetchStatus(baseUrl: string, timeoutMs = 10_000): Promise<NodeStatus> {
  const response = await daemonFetch(baseUrl, '/_shoal/status', { headers: { accept: 'application/json' } }, timeoutMs);
  const text = await response.text().catch((error: unknown) => {
    throw new DaemonUnreachableError(baseUrl, error);
  });
  if (response.status === 404) {
    throw new DaemonRequestError(`${baseUrl} answers but has no /_shoal/status: it is not a shoal daemon, or an older one; check --listen`, 404, undefined);
  }
  if (!response.ok) throw new DaemonRequestError(`${baseUrl}/_shoal/status answered ${response.status}: ${text.slice(0, 200)}`, response.status, undefined);
  try {
    return JSON.parse(text) as NodeStatus;
  } catch {
    throw new DaemonRequestError(`${baseUrl}/_shoal/status did not answer JSON; check --listen`, response.status, undefined);
  }
}

/** The first error of a registry error body (`{"errors":[{code,message}]}`), else the status line. */
export async function registryError(response: Response, what: string): Promise<DaemonRequestError> {
  const text = await response.text().catch(() => '');
  let code: string | undefined;
  let message: string | undefined;
  try {
    const body = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    code = body.errors?.[0]?.code;
    message = body.errors?.[0]?.message;
  } catch {
    // not the spec's error body
  }
  return new DaemonRequestError(message ?? `${what}: the daemon answered ${response.status}${text ? ` ${text.slice(0, 200)}` : ''}`, response.status, code);
}
