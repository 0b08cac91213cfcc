// The upstream client against Debian's docker-registry serving HTTPS (http.tls) with certificates
// made by openssl: what it trusts (docker's certs.d folder, the CA setting), mutual TLS, and the
// fix it names when a handshake fails. The system store case runs a daemon: tls-daemon.test.ts.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { UpstreamTlsConfig } from '../../src/config/types.ts';
import { RegistryClient } from '../../src/upstream/registry-client.ts';
import { TlsConfigError, upstreamTls } from '../../src/upstream/tls.ts';
import { makeLeaf } from '../helpers/certs.ts';
import type { SeedRegistry, SeedTls } from '../helpers/seed-registry.ts';
import { tlsFixtures, type TlsFixtures } from '../helpers/tls-seeds.ts';

describe('upstream over TLS', () => {
  let f: TlsFixtures;
  before(async () => {
    f = await tlsFixtures('shoal-tls-');
  });
  after(() => f?.cleanup());

  const serve = (tls: SeedTls): Promise<SeedRegistry> => f.serve(tls);
  const certsDirWith = async (seed: SeedRegistry, files: Record<string, string>): Promise<string> => {
    const certsDir = await mkdtemp(join(f.dir, 'certs.d-'));
    await mkdir(join(certsDir, seed.host));
    for (const [name, from] of Object.entries(files)) await copyFile(from, join(certsDir, seed.host, name));
    return certsDir;
  };
  const tags = (seed: SeedRegistry, options: { tls?: UpstreamTlsConfig; certsDir?: string } = {}): Promise<string[] | undefined> =>
    new RegistryClient({ url: seed.url, certsDir: options.certsDir ?? join(f.dir, 'no-certs.d'), ...(options.tls ? { tls: options.tls } : {}) }).listTags('library/hello');

  test('a self-signed seed is trusted through certs.d/<host:port>/ca.crt, and refused with the fix without it', async () => {
    const seed = await serve({ certificate: f.selfSigned.cert, key: f.selfSigned.key });
    await assert.rejects(tags(seed), (error: Error) => {
      assert.match(error.message, /DEPTH_ZERO_SELF_SIGNED_CERT/);
      assert.match(error.message, new RegExp(`certs\\.d/${seed.host}/ca\\.crt`), 'names the file that would fix it');
      return true;
    });
    assert.deepEqual(await tags(seed, { certsDir: await certsDirWith(seed, { 'ca.crt': f.selfSigned.cert }) }), ['1']);
  });

  test('an internal CA is trusted through the CA setting and through any *.crt in certs.d', async () => {
    const seed = await serve({ certificate: f.leaf.cert, key: f.leaf.key });
    await assert.rejects(tags(seed), /not signed by a CA this host trusts/);
    assert.deepEqual(await tags(seed, { tls: { caFile: f.ca.cert } }), ['1']);
    assert.deepEqual(await tags(seed, { certsDir: await certsDirWith(seed, { 'internal.crt': f.ca.cert }) }), ['1']);
  });

  test('mutual TLS: the client certificate from the settings or certs.d; without one a clear error', async () => {
    const seed = await serve({ certificate: f.leaf.cert, key: f.leaf.key, clientCas: [f.clientCa.cert], helperClient: f.client });
    await assert.rejects(tags(seed, { tls: { caFile: f.ca.cert } }), (error: Error) => {
      assert.match(error.message, /the seed requires a client certificate: give --upstream-client-cert and --upstream-client-key/);
      return true;
    });
    assert.deepEqual(await tags(seed, { tls: { caFile: f.ca.cert, clientCertFile: f.client.cert, clientKeyFile: f.client.key } }), ['1']);
    const certsDir = await certsDirWith(seed, { 'ca.crt': f.ca.cert, 'client.cert': f.client.cert, 'client.key': f.client.key });
    assert.deepEqual(await tags(seed, { certsDir }), ['1']);
    // A certificate from a CA the seed does not accept is named as refused, not as missing.
    const stranger = await makeLeaf(f.dir, 'stranger', { ca: f.ca, client: true });
    await assert.rejects(tags(seed, { tls: { caFile: f.ca.cert, clientCertFile: stranger.cert, clientKeyFile: stranger.key } }), /refused this host's client certificate/);
  });

  test('a certificate for another name and an expired one are refused with their fixes', async () => {
    const misnamed = await serve({ certificate: f.wrongName.cert, key: f.wrongName.key });
    await assert.rejects(tags(misnamed, { tls: { caFile: f.ca.cert } }), /ERR_TLS_CERT_ALTNAME_INVALID: the seed's certificate is not issued for 127\.0\.0\.1/);
    const old = await serve({ certificate: f.expired.cert, key: f.expired.key });
    await assert.rejects(tags(old, { tls: { caFile: f.ca.cert } }), /CERT_HAS_EXPIRED: the seed's certificate has expired: renew it/);
  });

  test('skip-verify accepts a certificate that fails every check', async () => {
    const seed = await serve({ certificate: f.wrongName.cert, key: f.wrongName.key });
    assert.deepEqual(await tags(seed, { tls: { skipVerify: true } }), ['1']);
  });

  test('unusable files are named: a key that is not the certificate\'s, half a client pair in certs.d, a CA file without certificates', async () => {
    const url = 'https://127.0.0.1:5443';
    const noCerts = join(f.dir, 'no-certs.d');
    assert.throws(() => upstreamTls(url, { clientCertFile: f.client.cert, clientKeyFile: f.leaf.key }, noCerts),
      (error: Error) => error instanceof TlsConfigError && /client key .*seed\.key is not the key of client certificate .*client\.crt/.test(error.message));
    const certsDir = join(f.dir, 'half-pair');
    await mkdir(join(certsDir, '127.0.0.1:5443'), { recursive: true });
    await copyFile(f.client.cert, join(certsDir, '127.0.0.1:5443', 'client.cert'));
    assert.throws(() => upstreamTls(url, undefined, certsDir), /client\.cert has no client\.key next to it/);
    const empty = join(f.dir, 'empty-ca.pem');
    await writeFile(empty, 'not a certificate\n');
    assert.throws(() => upstreamTls(url, { caFile: empty }, noCerts), /CA file .*empty-ca\.pem holds no PEM certificate/);
  });
});
