// The optional cluster key: a libp2p private-network (pnet) pre-shared key. With it, every libp2p
// connection is wrapped in XSalsa20 keyed by the PSK before noise even starts, so a host without
// the key cannot connect, let alone announce. The HTTP data plane cannot use pnet, so it runs
// TLS with a pre-shared key derived from the same key (see peerTlsServerOptions).
import { getDiffieHellman, hkdfSync } from 'node:crypto';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { generateKey } from '@libp2p/pnet';
import { unreadableReason } from '../lib/fs-errors.ts';

/** The pnet "swarm.key" v1 format: three lines, the last 32 bytes in hex. */
const PSK_HEADER = '/key/swarm/psk/1.0.0/';
const PSK_ENCODING = '/base16/';
const PSK_BYTES = 32;
const SWARM_KEY_FILE_BYTES = PSK_HEADER.length + 1 + PSK_ENCODING.length + 1 + PSK_BYTES * 2;
/** Domain separation: the data plane's key must not be usable as (or derivable from) anything else keyed by the PSK. */
const PEER_TLS_LABEL = 'shoal peer-data tls v1';

export interface ClusterKey {
  /** The 32 secret bytes. */
  readonly psk: Uint8Array;
  /** The canonical swarm.key file bytes, the form `@libp2p/pnet`'s preSharedKey({ psk }) takes. */
  readonly swarmKey: Uint8Array;
}

/** A new key in swarm.key format (the text to write to a file and copy to every host). */
export function generateClusterKey(): string {
  const bytes = new Uint8Array(SWARM_KEY_FILE_BYTES);
  generateKey(bytes);
  return `${Buffer.from(bytes).toString('utf8')}\n`;
}

/** Parses swarm.key text as ipfs/kubo and libp2p write it; tolerates CRLF and a trailing newline. */
export function parseClusterKey(input: string | Uint8Array): ClusterKey {
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
  const lines = text.split(/\r\n|\r|\n/).map((line) => line.trim()).filter((line) => line !== '');
  const [header, encoding, hex] = lines;
  if (lines.length !== 3 || header !== PSK_HEADER || encoding !== PSK_ENCODING) {
    throw new Error(`not a cluster key: expected three lines "${PSK_HEADER}", "${PSK_ENCODING}", ${PSK_BYTES * 2} hex characters`);
  }
  if (hex === undefined || !/^[0-9a-fA-F]+$/.test(hex) || hex.length !== PSK_BYTES * 2) {
    throw new Error(`not a cluster key: the key line must be ${PSK_BYTES * 2} hex characters`);
  }
  const canonicalHex = hex.toLowerCase();
  return {
    psk: Uint8Array.from(Buffer.from(canonicalHex, 'hex')),
    swarmKey: new TextEncoder().encode(`${PSK_HEADER}\n${PSK_ENCODING}\n${canonicalHex}`),
  };
}

export async function loadClusterKey(path: string): Promise<ClusterKey> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`cannot read cluster key ${path}: ${unreadableReason(path, err)}`);
  }
  try {
    return parseClusterKey(bytes);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}

/** Both ends offer the same list: AES-GCM first (hardware AES), ChaCha20 for CPUs without it. */
const PEER_TLS_CIPHERS = 'DHE-PSK-AES128-GCM-SHA256:ECDHE-PSK-CHACHA20-POLY1305';
const PEER_TLS_IDENTITY = 'shoal-peer/1';
/** TLS 1.2: Node offers PSK cipher suites only there. */
const PEER_TLS_COMMON = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: PEER_TLS_CIPHERS } as const;

const MODP_2048_PEM = dhParametersPem(getDiffieHellman('modp14').getPrime(), 2);

/** PKCS#3 DHParameter (SEQUENCE { prime INTEGER, base INTEGER }) as PEM, the form TLS options take. */
function dhParametersPem(prime: Buffer, generator: number): string {
  const length = (n: number): Buffer => Buffer.from(n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff]);
  const integer = (value: Buffer): Buffer => {
    const unsigned = value[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value;
    return Buffer.concat([Buffer.from([0x02]), length(unsigned.length), unsigned]);
  };
  const body = Buffer.concat([integer(prime), integer(Buffer.from([generator]))]);
  const der = Buffer.concat([Buffer.from([0x30]), length(body.length), body]);
  return `-----BEGIN DH PARAMETERS-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END DH PARAMETERS-----\n`;
}

/**
 * The data plane's TLS pre-shared key: HKDF-SHA256 of the cluster key with its own label, so it
 * is neither the pnet key nor usable for anything else keyed by it.
 */
export function peerTlsKey(key: ClusterKey): Buffer {
  return Buffer.from(hkdfSync('sha256', key.psk, new Uint8Array(0), PEER_TLS_LABEL, 32));
}

/**
 * Server side of the keyed data plane: TLS 1.2 with PSK cipher suites only. Both ends prove they
 * hold the key in the handshake, which is bound to fresh randoms from both sides, so nothing seen
 * on the wire (no header, no recorded handshake) lets a host without the key in, and the bytes
 * are encrypted. (D)HE key exchange gives forward secrecy: a key leaked later does not open
 * recorded traffic. No certificates: the key is the identity, as it is for pnet.
 */
export function peerTlsServerOptions(key: ClusterKey): TlsOptions {
  const psk = peerTlsKey(key);
  return {
    ...PEER_TLS_COMMON,
    // Not 'auto': with no certificate OpenSSL picks a 1024-bit group for a 128-bit cipher, which
    // its own default security level refuses. RFC 3526's 2048-bit MODP group.
    dhparam: MODP_2048_PEM,
    pskIdentityHint: PEER_TLS_IDENTITY,
    // A wrong identity gets no key, and the handshake fails.
    pskCallback: (_socket, identity) => (identity === PEER_TLS_IDENTITY ? psk : null),
  } as TlsOptions;
}

export function peerTlsClientOptions(key: ClusterKey): ConnectionOptions {
  const psk = peerTlsKey(key);
  return {
    ...PEER_TLS_COMMON,
    pskCallback: () => ({ psk, identity: PEER_TLS_IDENTITY }),
    // PSK suites send no certificate: the handshake itself authenticates the server.
    checkServerIdentity: () => undefined,
  };
}
