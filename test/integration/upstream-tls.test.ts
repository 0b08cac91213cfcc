// The upstream client against Debian's docker-registry serving HTTPS (http.tls) with certificates
// made by openssl: what it trusts (docker's certs.d folder, the CA setting), mutual TLS, and the
// fix it names when a handshake fails. The system store case runs a daemon: tls-daemon.test.ts.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { UpstreamTlsConfig } from '../../src/config/types.ts';
import { RegistryClient } from '../../src/upstream/registry-client.ts';
import { TlsConfigError, upstreamTls } from '../../src/upstream/tls.ts';
import { makeCa, makeLeaf, type CertFiles } from '../helpers/certs.ts';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { startSeedRegistry, type SeedRegistry, type SeedTls } from '../helpers/seed-registry.ts';

describe('upstream over TLS', () => {
  let dir: string;
  let data: string;
  let image: TestImage;
  let ca: CertFiles;
  let leaf: CertFiles;
  let selfSigned: CertFiles;
  let wrongName: CertFiles;
  let expired: CertFiles;
  let clientCa: CertFiles;
  let client: CertFiles;
  const seeds: SeedRegistry[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-tls-'));
    ca = await makeCa(dir, 'internal-ca');
    leaf = await makeLeaf(dir, 'seed', { ca, san: ['IP:127.0.0.1'] });
    selfSigned = await makeLeaf(dir, 'self-signed', { san: ['IP:127.0.0.1'] });
    wrongName = await makeLeaf(dir, 'wrong-name', { ca, san: ['DNS:seed.example'] });
    expired = await makeLeaf(dir, 'expired', { ca, san: ['IP:127.0.0.1'], expired: true });
    clientCa = await makeCa(dir, 'client-ca');
    client = await makeLeaf(dir, 'client', { ca: clientCa, client: true });
    // The image goes in over plain HTTP; the TLS seeds then serve the same storage.
    data = join(dir, 'data');
    const plain = await startSeedRegistry({ dataDir: data });
    image = await makeImage({ layers: [32 * 1024], seed: 'tls' });
    await pushImage(plain.url, 'library/hello', '1', image);
    await plain.stop();
  });

  after(async () => {
    for (const seed of seeds) await seed.stop();
    await image?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const serve = async (tls: SeedTls): Promise<SeedRegistry> => {
    const seed = await startSeedRegistry({ dataDir: data, tls });
    seeds.push(seed);
    return seed;
  };
  const certsDirWith = async (seed: SeedRegistry, files: Record<string, string>): Promise<string> => {
    const certsDir = await mkdtemp(join(dir, 'certs.d-'));
    await mkdir(join(certsDir, seed.host));
    for (const [name, from] of Object.entries(files)) await copyFile(from, join(certsDir, seed.host, name));
    return certsDir;
  };
  const tags = (seed: SeedRegistry, options: { tls?: UpstreamTlsConfig; certsDir?: string } = {}): Promise<string[] | undefined> =>
    new RegistryClient({ url: seed.url, certsDir: options.certsDir ?? join(dir, 'no-certs.d'), ...(options.tls ? { tls: options.tls } : {}) }).listTags('library/hello');

  test('a self-signed seed is trusted through certs.d/<host:port>/ca.crt, and refused with the fix without it', async () => {
    const seed = await serve({ certificate: selfSigned.cert, key: selfSigned.key });
    await assert.rejects(tags(seed), (error: Error) => {
      assert.match(error.message, /DEPTH_ZERO_SELF_SIGNED_CERT/);
      assert.match(error.message, new RegExp(`certs\\.d/${seed.host}/ca\\.crt`), 'names the file that would fix it');
      return true;
    });
    assert.deepEqual(await tags(seed, { certsDir: await certsDirWith(seed, { 'ca.crt': selfSigned.cert }) }), ['1']);
  });

  test('an internal CA is trusted through the CA setting and through any *.crt in certs.d', async () => {
    const seed = await serve({ certificate: leaf.cert, key: leaf.key });
    await assert.rejects(tags(seed), /not signed by a CA this host trusts/);
    assert.deepEqual(await tags(seed, { tls: { caFile: ca.cert } }), ['1']);
    assert.deepEqual(await tags(seed, { certsDir: await certsDirWith(seed, { 'internal.crt': ca.cert }) }), ['1']);
  });

  test('mutual TLS: the client certificate from the settings or certs.d; without one a clear error', async () => {
    const seed = await serve({ certificate: leaf.cert, key: leaf.key, clientCas: [clientCa.cert], helperClient: client });
    await assert.rejects(tags(seed, { tls: { caFile: ca.cert } }), (error: Error) => {
      assert.match(error.message, /the seed requires a client certificate: give --upstream-client-cert and --upstream-client-key/);
      return true;
    });
    assert.deepEqual(await tags(seed, { tls: { caFile: ca.cert, clientCertFile: client.cert, clientKeyFile: client.key } }), ['1']);
    const certsDir = await certsDirWith(seed, { 'ca.crt': ca.cert, 'client.cert': client.cert, 'client.key': client.key });
    assert.deepEqual(await tags(seed, { certsDir }), ['1']);
    // A certificate from a CA the seed does not accept is named as refused, not as missing.
    const stranger = await makeLeaf(dir, 'stranger', { ca, client: true });
    await assert.rejects(tags(seed, { tls: { caFile: ca.cert, clientCertFile: stranger.cert, clientKeyFile: stranger.key } }), /refused this host's client certificate/);
  });

  test('a certificate for another name and an expired one are refused with their fixes', async () => {
    const misnamed = await serve({ certificate: wrongName.cert, key: wrongName.key });
    await assert.rejects(tags(misnamed, { tls: { caFile: ca.cert } }), /ERR_TLS_CERT_ALTNAME_INVALID: the seed's certificate is not issued for 127\.0\.0\.1/);
    const old = await serve({ certificate: expired.cert, key: expired.key });
    await assert.rejects(tags(old, { tls: { caFile: ca.cert } }), /CERT_HAS_EXPIRED: the seed's certificate has expired: renew it/);
  });

  test('skip-verify accepts a certificate that fails every check', async () => {
    const seed = await serve({ certificate: wrongName.cert, key: wrongName.key });
    assert.deepEqual(await tags(seed, { tls: { skipVerify: true } }), ['1']);
  });

  test('unusable files are named: a key that is not the certificate\'s, half a client pair in certs.d, a CA file without certificates', async () => {
    const url = 'https://127.0.0.1:5443';
    const noCerts = join(dir, 'no-certs.d');
    assert.throws(() => upstreamTls(url, { clientCertFile: client.cert, clientKeyFile: leaf.key }, noCerts),
      (error: Error) => error instanceof TlsConfigError && /client key .*seed\.key is not the key of client certificate .*client\.crt/.test(error.message));
    const certsDir = join(dir, 'half-pair');
    await mkdir(join(certsDir, '127.0.0.1:5443'), { recursive: true });
    await copyFile(client.cert, join(certsDir, '127.0.0.1:5443', 'client.cert'));
    assert.throws(() => upstreamTls(url, undefined, certsDir), /client\.cert has no client\.key next to it/);
    const empty = join(dir, 'empty-ca.pem');
    await writeFile(empty, 'not a certificate\n');
    assert.throws(() => upstreamTls(url, { caFile: empty }, noCerts), /CA file .*empty-ca\.pem holds no PEM certificate/);
  });
});
