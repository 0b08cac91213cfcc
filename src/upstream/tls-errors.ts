// Names a failed TLS handshake with an upstream and says what fixes it. The daemon puts the fix in
// its error, `shoal doctor` prints it.
import { join } from 'node:path';

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
  // TLS 1.3 servers say "certificate required"; TLS 1.2 ones fail the handshake.
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'client-cert-required',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'client-cert-required',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'client-cert-rejected',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'client-cert-rejected',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'client-cert-rejected',
  ERR_SSL_WRONG_VERSION_NUMBER: 'not-tls',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'not-tls',
};

export interface TlsFailure {
  readonly problem: TlsProblem;
  /** OpenSSL's or Node's code, as it came. */
  readonly code: string;
}

/** The TLS problem behind an error (its cause chain is searched), or undefined when it is not one. */
export function tlsFailureOf(error: unknown): TlsFailure | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    const problem = typeof code === 'string' ? PROBLEMS[code] : undefined;
    if (problem !== undefined && code !== undefined) return { problem, code };
    current = current.cause;
  }
  return undefined;
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
