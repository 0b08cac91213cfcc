// The node's libp2p identity. The peer id is derived from this key, so it must survive restarts:
// peers' bans, bootstrap lists (`/ip4/…/p2p/<id>`) and logs all name a host by it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { writeFileAtomic } from '../lib/atomic-write.ts';

/** Relative to the data directory; beside (not inside) the registry:2 tree, which registry:2 may own. */
export const PEER_KEY_PATH = join('shoal', 'peer-key');

export function peerKeyPath(dataDir: string): string {
  return join(dataDir, PEER_KEY_PATH);
}

/**
 * Loads `<dataDir>/shoal/peer-key` (a protobuf-marshalled private key, as libp2p writes them),
 * or generates an Ed25519 key and writes it there first. A file that exists but does not parse is
 * an error, not a reason to quietly become another peer.
 */
export async function loadOrCreatePeerKey(dataDir: string): Promise<PrivateKey> {
  const path = peerKeyPath(dataDir);
  const existing = await readPeerKey(path);
  if (existing !== undefined) return existing;
  const key = await generateKeyPair('Ed25519');
  // 0600 in a 0700 folder, fsynced and renamed: a crash leaves either no key or a whole one, never half.
  await writeFileAtomic(path, privateKeyToProtobuf(key), { mode: 0o600, dirMode: 0o700 });
  return key;
}

async function readPeerKey(path: string): Promise<PrivateKey | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return privateKeyFromProtobuf(bytes);
  } catch (err) {
    throw new Error(`${path} is not a libp2p private key (${(err as Error).message}); move it away to generate a new peer identity`);
  }
}
