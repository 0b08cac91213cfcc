import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from '@libp2p/pnet';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { generateClusterKey, loadClusterKey, parseClusterKey, peerTlsKey } from '../../src/swarm/cluster-key.ts';
import { loadOrCreatePeerKey, peerKeyPath } from '../../src/swarm/identity.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-swarm-id-'));
  dirs.push(dir);
  return dir;
}
after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

describe('peer key', () => {
  test('generated once (Ed25519, mode 0600), then the same key on every load', async () => {
    const dataDir = await tempDir();
    const first = await loadOrCreatePeerKey(dataDir);
    assert.equal(first.type, 'Ed25519');
    const info = await stat(peerKeyPath(dataDir));
    assert.equal(info.mode & 0o777, 0o600);
    const again = await loadOrCreatePeerKey(dataDir);
    assert.equal(peerIdFromPrivateKey(again).toString(), peerIdFromPrivateKey(first).toString());
  });

  test('a corrupt key file is an error, not a new identity', async () => {
    const dataDir = await tempDir();
    await loadOrCreatePeerKey(dataDir);
    await writeFile(peerKeyPath(dataDir), 'garbage');
    await assert.rejects(loadOrCreatePeerKey(dataDir), /not a libp2p private key/);
    assert.equal(await readFile(peerKeyPath(dataDir), 'utf8'), 'garbage');
  });
});

describe('cluster key', () => {
  test('generated keys are in swarm.key format and parse back', () => {
    const text = generateClusterKey();
    assert.match(text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/);
    const key = parseClusterKey(text);
    assert.equal(key.psk.byteLength, 32);
    assert.notEqual(generateClusterKey(), text);
  });

  test('accepts what @libp2p/pnet and kubo write (CRLF, upper-case hex), refuses anything else', () => {
    const bytes = new Uint8Array(95);
    generateKey(bytes);
    const canonical = parseClusterKey(bytes);
    const crlf = Buffer.from(bytes).toString().replaceAll('\n', '\r\n').replace(/[0-9a-f]{64}/, (h) => h.toUpperCase());
    assert.deepEqual(parseClusterKey(crlf).swarmKey, canonical.swarmKey);
    for (const bad of ['', 'x', '/key/swarm/psk/1.0.0/\n/base64/\nAAAA', `/key/swarm/psk/1.0.0/\n/base16/\n${'a'.repeat(63)}`]) {
      assert.throws(() => parseClusterKey(bad), /not a cluster key/);
    }
  });

  test('loadClusterKey names the file in its errors', async () => {
    const dir = await tempDir();
    const path = join(dir, 'swarm.key');
    await writeFile(path, generateClusterKey());
    assert.equal((await loadClusterKey(path)).psk.byteLength, 32);
    await assert.rejects(loadClusterKey(join(dir, 'missing.key')), /cannot read cluster key .*missing\.key/);
    await writeFile(path, 'nope');
    await assert.rejects(loadClusterKey(path), /swarm\.key: not a cluster key/);
  });

  test('peer data-plane TLS key: same for every holder of the key, different per key, not the key itself', () => {
    const text = generateClusterKey();
    const a = peerTlsKey(parseClusterKey(text));
    assert.deepEqual(peerTlsKey(parseClusterKey(text.toUpperCase().replace('/KEY/SWARM/PSK/1.0.0/', '/key/swarm/psk/1.0.0/').replace('/BASE16/', '/base16/'))), a);
    assert.equal(a.byteLength, 32);
    assert.notDeepEqual(a, Buffer.from(parseClusterKey(text).psk));
    assert.notDeepEqual(peerTlsKey(parseClusterKey(generateClusterKey())), a);
  });
});
