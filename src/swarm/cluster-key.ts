// The optional cluster key: a libp2p private-network (pnet) pre-shared key. With it, every libp2p
// connection is wrapped in XSalsa20 keyed by the PSK before noise even starts, so a host without
// the key cannot connect, let alone announce. The HTTP data plane cannot use pnet, so it gets a
// token derived from the same key (see peerDataToken).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { generateKey } from '@libp2p/pnet';

/** The pnet "swarm.key" v1 format: three lines, the last 32 bytes in hex. */
const PSK_HEADER = '/key/swarm/psk/1.0.0/';
const PSK_ENCODING = '/base16/';
const PSK_BYTES = 32;
const SWARM_KEY_FILE_BYTES = PSK_HEADER.length + 1 + PSK_ENCODING.length + 1 + PSK_BYTES * 2;
/** Domain separation: the data token must not be usable as (or derivable from) anything else keyed by the PSK. */
const DATA_TOKEN_LABEL = 'shoal peer-data token v1';

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
    throw new Error(`cannot read cluster key ${path}: ${(err as Error).message}`);
  }
  try {
    return parseClusterKey(bytes);
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}

/**
 * The token the peer data plane requires (e.g. as a bearer token) when a cluster key is set:
 * HMAC-SHA256(psk, label), base64url. Every member derives the same token; a host without the
 * key cannot. It is a shared secret sent over plain HTTP, so it keeps strangers out but not an
 * eavesdropper on the LAN who could replay it.
 */
export function peerDataToken(key: ClusterKey): string {
  return createHmac('sha256', key.psk).update(DATA_TOKEN_LABEL).digest('base64url');
}

/** Constant-time check of a presented token, for the data plane. */
export function isPeerDataToken(key: ClusterKey, presented: string | undefined): boolean {
  if (typeof presented !== 'string') return false;
  const expected = Buffer.from(peerDataToken(key));
  const actual = Buffer.from(presented);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
