// The upstream TLS settings and the body timeout through the loader: YAML per upstream, flags and
// the environment for the first one, paths relative to the file, docker's certs.d folder checked.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { makeCa, makeLeaf, type CertFiles } from '../helpers/certs.ts';

describe('upstream TLS settings', () => {
  let root: string;
  let ca: CertFiles;
  let client: CertFiles;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'shoal-config-tls-'));
    ca = await makeCa(root, 'ca');
    client = await makeLeaf(root, 'client', { ca, client: true });
  });
  after(() => rm(root, { recursive: true, force: true }));

  const load = (argvOptions: Record<string, unknown> = {}, env: Record<string, string> = {}) =>
    loadConfig({ argvOptions, env: { SHOAL_DOCKER_CERTS_DIR: join(root, 'no-certs.d'), ...env }, cwd: root, homedir: root });

  it('YAML gives each upstream its own; flags and the environment apply to the first', async () => {
    const path = join(root, 'shoal.yml');
    await writeFile(path, [
      'proxy:',
      '  bodytimeout: 7s',
      'upstreams:',
      '  - url: https://a.lan',
      '    ca: ca.crt',
      '  - url: https://b.lan:5443',
      '    clientcert: client.crt',
      '    clientkey: client.key',
      '    skipverify: true',
      '',
    ].join('\n'));
    const fromFile = await load({ config: path });
    assert.equal(fromFile.upstreamBodyTimeoutMs, 7000);
    assert.deepEqual(fromFile.upstreams.map((u) => u.tls), [
      { caFile: ca.cert },
      { clientCertFile: client.cert, clientKeyFile: client.key, skipVerify: true },
    ]);
    const overridden = await load({ config: path, upstreamSkipVerify: true }, { SHOAL_UPSTREAM_CLIENT_CERT: client.cert, SHOAL_UPSTREAM_CLIENT_KEY: client.key });
    assert.deepEqual(overridden.upstreams[0]?.tls, { caFile: ca.cert, clientCertFile: client.cert, clientKeyFile: client.key, skipVerify: true });
    assert.deepEqual(overridden.upstreams[1]?.tls, fromFile.upstreams[1]?.tls);
  });

  it('reads docker\'s folder for each configured upstream at load, refusing half a client pair with one line', async () => {
    const certsDir = join(root, 'certs.d');
    await mkdir(join(certsDir, 'seed.lan:5443'), { recursive: true });
    await copyFile(client.key, join(certsDir, 'seed.lan:5443', 'client.key'));
    await assert.rejects(load({ upstream: ['https://seed.lan:5443'] }, { SHOAL_DOCKER_CERTS_DIR: certsDir }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^upstream https:\/\/seed\.lan:5443: .*client\.key has no client\.cert next to it/);
      assert.ok(!error.message.includes('\n'));
      return true;
    });
    await copyFile(client.cert, join(certsDir, 'seed.lan:5443', 'client.cert'));
    assert.equal((await load({ upstream: ['https://seed.lan:5443'] }, { SHOAL_DOCKER_CERTS_DIR: certsDir })).dockerCertsDir, certsDir);
  });
});
