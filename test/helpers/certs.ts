// Certificates for TLS tests, made with the openssl CLI the way an operator makes them: a
// self-signed server certificate, an internal CA with leaf certificates (server or client), an
// expired leaf and one issued for another name. EC P-256 keys: quick to generate.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA certificate and its key (`<dir>/<name>.crt`, `.key`). */
export async function makeCa(dir: string, name: string): Promise<CertFiles> {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await run('openssl', ['req', '-x509', ...NEW_KEY, '-keyout', files.key, '-out', files.cert, '-days', '30', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return files;
}

export interface LeafOptions {
  /** subjectAltName entries, e.g. `IP:127.0.0.1`, `DNS:seed.example`. */
  readonly san?: readonly string[];
  /** Signed by this CA; self-signed when absent. */
  readonly ca?: CertFiles;
  /** notAfter in the past. */
  readonly expired?: boolean;
  /** For a client (clientAuth) rather than a server. */
  readonly client?: boolean;
}

/** A leaf certificate and key (`<dir>/<name>.crt`, `.key`). */
export async function makeLeaf(dir: string, name: string, options: LeafOptions = {}): Promise<CertFiles> {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, [
    ...(options.san && options.san.length > 0 ? [`subjectAltName=${options.san.join(',')}`] : []),
    `extendedKeyUsage=${options.client ? 'clientAuth' : 'serverAuth'}`,
    'basicConstraints=CA:FALSE',
    '',
  ].join('\n'));
  await run('openssl', ['req', '-new', ...NEW_KEY, '-keyout', files.key, '-out', csr, '-subj', `/CN=${name}`]);
  // -days -1 puts notAfter a day before notBefore (now): expired from the start.
  const days = options.expired ? '-1' : '30';
  const signer = options.ca ? ['-CA', options.ca.cert, '-CAkey', options.ca.key, '-CAcreateserial'] : ['-signkey', files.key];
  await run('openssl', ['x509', '-req', '-in', csr, ...signer, '-days', days, '-extfile', ext, '-out', files.cert]);
  return files;
}
