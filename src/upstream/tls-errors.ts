// Names a failed TLS handshake with an upstream and says what fixes it. The daemon puts the fix in
// its error, `shoal doctor` prints it.
import { isIP } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { TlsConnectOptions } from './tls.ts';

export type TlsProblem = 'unknown-ca' | 'name-mismatch' | 'expired' | 'not-yet-valid' | 'client-cert-required' | 'client-cert-rejected' | 'not-tls';

const PROBLEMS: Readonly<Record<string, TlsProblem>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown-ca',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown-ca',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown-ca',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown-ca',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown-ca',
  CERT_UNTRUSTED: 'unknown-ca',
  ERR_TLS_CERT_ALTNAME_INVALID: 'name-mismatch',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not-yet-valid',
  // Alerts about this host's client certificate. Servers send "bad certificate" both when none came
  // and when the one that came is not trusted (Go's before 1.21): which it was, the caller knows.
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'client-cert-required',
  'ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE': 'client-cert-required',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'client-cert-required',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'client-cert-required',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'client-cert-rejected',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'client-cert-rejected',
  'ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_EXPIRED': 'client-cert-rejected',
  ERR_SSL_WRONG_VERSION_NUMBER: 'not-tls',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'not-tls',
};

export interface TlsFailure {
  readonly problem: TlsProblem;
  /** OpenSSL's or Node's code, as it came. */
  readonly code: string;
}

/**
 * The TLS problem behind an error (its cause chain is searched), or undefined when it is not one.
 * `sentClientCert`: whether this side offered a client certificate (a complaint about it then
 * means it was refused, not missing).
 */
export function tlsFailureOf(error: unknown, sentClientCert = false): TlsFailure | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    const problem = typeof code === 'string' ? PROBLEMS[code] : undefined;
    if (problem !== undefined && code !== undefined) return { problem: problem === 'client-cert-required' && sentClientCert ? 'client-cert-rejected' : problem, code };
    current = current.cause;
  }
  return undefined;
}

/**
 * With TLS 1.3 a server checks the client certificate after the handshake and its alert comes
 * with the first read, which HTTP clients report only as "other side closed". One plain TLS
 * exchange with the same settings shows the alert. Undefined: no TLS problem seen.
 */
export function diagnoseTls(url: string, options: TlsConnectOptions, timeoutMs: number): Promise<TlsFailure | undefined> {
  const { hostname, port, host, protocol } = new URL(url);
  if (protocol !== 'https:') return Promise.resolve(undefined);
  const name = hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({
      host: name, port: Number(port || 443), ...(isIP(name) === 0 ? { servername: name } : {}),
      secureContext: options.secureContext, rejectUnauthorized: options.rejectUnauthorized,
    });
    const done = (failure: TlsFailure | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(failure);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('secureConnect', () => socket.write(`HEAD /v2/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    socket.once('data', () => done(undefined));
    socket.once('error', (error) => done(tlsFailureOf(error, options.sentClientCert)));
    socket.once('close', () => done(undefined));
  });
}

/** One sentence: what is wrong, then what to do, for an upstream at `url`. */
export function tlsFix(problem: TlsProblem, url: string, certsDir: string): string {
  const { host, hostname } = new URL(url);
  const folder = join(certsDir, host);
  switch (problem) {
    case 'unknown-ca':
      return `the seed's certificate is not signed by a CA this host trusts: put that CA (or the self-signed certificate) in ${folder}/ca.crt (docker reads it too), or give --upstream-ca FILE (upstreams[].ca), or add it to the system store (update-ca-certificates)`;
    case 'name-mismatch':
      return `the seed's certificate is not issued for ${hostname}: name the seed in --upstream as its certificate does, or reissue the certificate with ${hostname} in its subjectAltName`;
    case 'expired':
      return 'the seed\'s certificate has expired: renew it on the seed (and check this host\'s clock with date)';
    case 'not-yet-valid':
      return 'the seed\'s certificate is not valid yet: check this host\'s clock (timedatectl) or the certificate\'s dates';
    case 'client-cert-required':
      return `the seed requires a client certificate: give --upstream-client-cert and --upstream-client-key (upstreams[].clientcert, clientkey), or put client.cert and client.key in ${folder}/`;
    case 'client-cert-rejected':
      return 'the seed refused this host\'s client certificate: use one signed by a CA in the seed\'s client CAs (registry:2 http.tls.clientcas) that has not expired';
    case 'not-tls':
      return `the seed does not speak TLS on ${host}: use http:// in --upstream`;
  }
}
