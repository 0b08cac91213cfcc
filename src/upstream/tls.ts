// What shoal trusts when it talks TLS to one upstream, the way docker, containerd, skopeo and curl
// on the same host would: the system CA store (which honours SSL_CERT_FILE / SSL_CERT_DIR as
// OpenSSL does) and Node's bundled roots, docker's folder for the registry
// (`/etc/docker/certs.d/<host[:port]>/`), and the upstream's own settings.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, getCACertificates, type SecureContext } from 'node:tls';
import type { UpstreamTlsConfig } from './types.ts';
import { unreadableReason } from '../lib/fs-errors.ts';

/** Where docker reads per-registry certificates (the schema's default for docker-certs-dir). */
export const DEFAULT_DOCKER_CERTS_DIR = '/etc/docker/certs.d';

/** A TLS file that cannot be used; the message names the file and what to do. */
export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
}

/** The files that apply to one upstream, and where each rule came from. */
export interface TlsFiles {
  /** The CA setting first, then docker's `ca.crt` and other `*.crt` of the host's folder. */
  readonly caFiles: readonly string[];
  /** The client certificate and key: the settings' pair, else docker's `client.cert`/`client.key` (any `X.cert` with `X.key`). */
  readonly client: { readonly cert: string; readonly key: string } | undefined;
  readonly skipVerify: boolean;
}

/** What undici's connector gets: one secure context per upstream, built once. */
export interface TlsConnectOptions {
  readonly secureContext: SecureContext;
  readonly rejectUnauthorized: boolean;
  /** Whether the context holds a client certificate (for naming the seed's complaints about it). */
  readonly sentClientCert: boolean;
}

/** host[:port] as the URL writes it (default port left out), as docker names the folder. */
export function certsFolderOf(url: string, certsDir: string): string {
  return join(certsDir, new URL(url).host.toLowerCase());
}

/** Lists the files; throws TlsConfigError for a half client pair in certs.d, as docker refuses it. */
export function tlsFilesFor(url: string, config: UpstreamTlsConfig | undefined, certsDir: string): TlsFiles {
  const folder = certsFolderOf(url, certsDir);
  let names: string[];
  try {
    names = readdirSync(folder).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new TlsConfigError(`cannot read ${folder} (${code ?? String(error)}): give shoal's user read access, or set docker-certs-dir`);
    names = [];
  }
  const caFiles = [...(config?.caFile !== undefined ? [config.caFile] : []), ...names.filter((n) => n.endsWith('.crt')).map((n) => join(folder, n))];
  let client: TlsFiles['client'];
  const certs = names.filter((n) => n.endsWith('.cert'));
  const keys = names.filter((n) => n.endsWith('.key'));
  for (const cert of certs) {
    const key = `${cert.slice(0, -'.cert'.length)}.key`;
    if (!keys.includes(key)) throw new TlsConfigError(`${join(folder, cert)} has no ${key} next to it: a client certificate needs its key (as docker requires)`);
    client ??= { cert: join(folder, cert), key: join(folder, key) };
  }
  for (const key of keys) {
    const cert = `${key.slice(0, -'.key'.length)}.cert`;
    if (!certs.includes(cert)) throw new TlsConfigError(`${join(folder, key)} has no ${cert} next to it: a client key needs its certificate (as docker requires)`);
  }
  const { clientCertFile, clientKeyFile } = config ?? {};
  if ((clientCertFile === undefined) !== (clientKeyFile === undefined)) {
    throw new TlsConfigError(clientCertFile !== undefined
      ? `upstream-client-cert ${clientCertFile} is set but upstream-client-key is not: give both`
      : `upstream-client-key ${clientKeyFile} is set but upstream-client-cert is not: give both`);
  }
  if (clientCertFile !== undefined && clientKeyFile !== undefined) client = { cert: clientCertFile, key: clientKeyFile };
  return { caFiles, client, skipVerify: config?.skipVerify === true };
}

let trustedByDefault: string[] | undefined;
/** Node's bundled roots (and NODE_EXTRA_CA_CERTS) plus the system store, read once per process. */
function defaultCas(): string[] {
  trustedByDefault ??= [...new Set([...getCACertificates('default'), ...getCACertificates('system')])];
  return trustedByDefault;
}

let plainContext: SecureContext | undefined;

/** Reads and checks the files, then builds the context. Throws TlsConfigError naming the file at fault. */
export function loadTls(files: TlsFiles): TlsConnectOptions {
  const rejectUnauthorized = !files.skipVerify;
  if (files.caFiles.length === 0 && files.client === undefined) {
    plainContext ??= createSecureContext({ ca: defaultCas() });
    return { secureContext: plainContext, rejectUnauthorized, sentClientCert: false };
  }
  const ca = [...defaultCas(), ...files.caFiles.flatMap(readCaFile)];
  const client = files.client && readClientPair(files.client.cert, files.client.key);
  return { secureContext: createSecureContext({ ca, ...client }), rejectUnauthorized, sentClientCert: client !== undefined };
}

/** tlsFilesFor + loadTls: what the transport of one upstream uses. */
export function upstreamTls(url: string, config: UpstreamTlsConfig | undefined, certsDir: string): TlsConnectOptions {
  return loadTls(tlsFilesFor(url, config, certsDir));
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new TlsConfigError(`cannot read ${what} ${path} (${unreadableReason(path, error)})`);
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function readCaFile(path: string): string[] {
  const blocks = readText(path, 'CA file').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsConfigError(`CA file ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new TlsConfigError(`CA file ${path} holds a damaged certificate (${(error as Error).message})`);
    }
  }
  return blocks;
}

function readClientPair(certPath: string, keyPath: string): { cert: string; key: string } {
  const cert = readText(certPath, 'client certificate');
  const key = readText(keyPath, 'client key');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new TlsConfigError(`client certificate ${certPath} is not a PEM certificate (${(error as Error).message})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new TlsConfigError(`client key ${keyPath} is not a PEM private key without a passphrase (${(error as Error).message})`);
  }
  if (!certificate.checkPrivateKey(privateKey)) throw new TlsConfigError(`client key ${keyPath} is not the key of client certificate ${certPath}: give the key the certificate was issued for`);
  return { cert, key };
}
