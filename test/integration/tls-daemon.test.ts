// shoal as operators run it against a docker-registry seed serving HTTPS: the system CA store
// (SSL_CERT_FILE, read as OpenSSL reads it), skip-verify with its warnings, settings that stop
// start-up, the doctor's hints for failed handshakes, and setup containerd's ca/client entries.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeCa, makeLeaf, type CertFiles } from '../helpers/certs.ts';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { freePort, startSeedRegistry, type SeedRegistry, type SeedTls } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';
import { runShoal, type Run } from './cli-run.ts';

const MANIFEST_ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json';

describe('shoal with a seed over HTTPS', () => {
  let dir: string;
  let data: string;
  let noCertsDir: string;
  let image: TestImage;
  let ca: CertFiles;
  let leaf: CertFiles;
  let wrongName: CertFiles;
  let expired: CertFiles;
  let client: CertFiles;
  let clientCa: CertFiles;
  const seeds: SeedRegistry[] = [];
  const nodes: ShoalProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-tls-daemon-'));
    noCertsDir = join(dir, 'no-certs.d');
    ca = await makeCa(dir, 'internal-ca');
    leaf = await makeLeaf(dir, 'seed', { ca, san: ['IP:127.0.0.1'] });
    wrongName = await makeLeaf(dir, 'wrong-name', { ca, san: ['DNS:seed.example'] });
    expired = await makeLeaf(dir, 'expired', { ca, san: ['IP:127.0.0.1'], expired: true });
    clientCa = await makeCa(dir, 'client-ca');
    client = await makeLeaf(dir, 'client', { ca: clientCa, client: true });
    data = join(dir, 'data');
    const plain = await startSeedRegistry({ dataDir: data });
    image = await makeImage({ layers: [32 * 1024], seed: 'tls-daemon' });
    await pushImage(plain.url, 'library/hello', '1', image);
    await plain.stop();
  });

  after(async () => {
    for (const node of nodes) await node.dispose();
    for (const seed of seeds) await seed.stop();
    await image?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const serve = async (tls: SeedTls): Promise<SeedRegistry> => {
    const seed = await startSeedRegistry({ dataDir: data, tls });
    seeds.push(seed);
    return seed;
  };
  const node = async (seed: SeedRegistry, args: string[] = [], env: Record<string, string> = {}): Promise<ShoalProcess> => {
    const started = await startShoal({ upstreams: [seed.url], args: ['--docker-certs-dir', noCertsDir, ...args], env });
    nodes.push(started);
    return started;
  };
  const manifest = (shoal: ShoalProcess): Promise<Response> => fetch(`${shoal.url}/v2/library/hello/manifests/1`, { headers: { accept: MANIFEST_ACCEPT } });
  const upstreamLine = (run: Run): string => run.stdout.split('\n').find((line) => /^\S+\s+upstream\s/.test(line)) ?? assert.fail(`no upstream line in:\n${run.stdout}`);

  test('an internal CA installed in the system store (SSL_CERT_FILE) is trusted with no shoal setting', async () => {
    const seed = await serve({ certificate: leaf.cert, key: leaf.key });
    const bundle = join(dir, 'system-bundle.pem');
    await writeFile(bundle, await readFile(ca.cert));
    const trusting = await node(seed, [], { SSL_CERT_FILE: bundle });
    const answer = await manifest(trusting);
    assert.equal(answer.status, 200, await answer.clone().text());
    assert.equal(answer.headers.get('docker-content-digest'), image.digest);
    // The same daemon without the CA in its system store refuses the seed.
    const stranger = await node(seed, [], { SSL_CERT_FILE: join(dir, 'empty-bundle.pem') });
    const refused = await manifest(stranger);
    assert.equal(refused.status, 503);
    assert.match(await refused.text(), /not signed by a CA this host trusts/);
  });

  test('skip-verify pulls from a seed whose certificate fails, warns at start and shows on the status JSON', async () => {
    const seed = await serve({ certificate: wrongName.cert, key: wrongName.key });
    const shoal = await node(seed, ['--upstream-skip-verify']);
    assert.equal((await manifest(shoal)).status, 200);
    assert.ok(shoal.logs().some((line) => line.level === 40 && line.upstream === seed.url && /verification is OFF/.test(String(line.msg))), 'a warning at start');
    const status = await (await fetch(`${shoal.url}/_shoal/status`)).json() as { tlsSkipVerify: string[] };
    assert.deepEqual(status.tlsSkipVerify, [seed.url]);
    const plain = await node(await serve({ certificate: leaf.cert, key: leaf.key }), ['--upstream-ca', ca.cert]);
    assert.deepEqual((await (await fetch(`${plain.url}/_shoal/status`)).json() as { tlsSkipVerify: string[] }).tlsSkipVerify, []);
  });

  test('a missing file or a key that is not the certificate\'s stops start-up with one line', async () => {
    const serveArgs = ['serve', '--no-swarm', '--data-dir', join(dir, 'never'), '--listen', `127.0.0.1:${await freePort()}`, '--upstream', 'https://127.0.0.1:5443'];
    const missing = await runShoal([...serveArgs, '--upstream-ca', join(dir, 'missing-ca.pem')], { timeoutMs: 20_000 });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^shoal: invalid --upstream-ca ".*missing-ca\.pem": expected an existing file; .* does not exist\n$/);
    const mismatched = await runShoal([...serveArgs, '--upstream-client-cert', client.cert, '--upstream-client-key', leaf.key], { timeoutMs: 20_000 });
    assert.equal(mismatched.code, 2);
    assert.match(mismatched.stderr, /^shoal: upstream https:\/\/127\.0\.0\.1:5443 \(--upstream-client-cert, --upstream-client-key\): client key .*seed\.key is not the key of client certificate .*client\.crt[^\n]*\n$/);
    const half = await runShoal([...serveArgs, '--upstream-client-cert', client.cert], { timeoutMs: 20_000 });
    assert.equal(half.code, 2);
    assert.match(half.stderr, /^shoal: [^\n]*upstream-client-cert .* is set but upstream-client-key is not: give both\n$/);
  });

  test('doctor names a name mismatch, an expired certificate, an unknown CA and a missing client certificate, each with its fix', async () => {
    // Client commands take the daemon's settings from its environment, as /etc/default/shoal gives them.
    const doctor = (seed: SeedRegistry, env: Record<string, string> = {}): Promise<Run> =>
      runShoal(['doctor', '--listen', `127.0.0.1:${seed.port + 1}`, '--docker-config', join(dir, 'daemon.json')],
        { env: { SHOAL_UPSTREAM: seed.url, SHOAL_DOCKER_CERTS_DIR: noCertsDir, ...env } });
    const withCa = { SHOAL_UPSTREAM_CA: ca.cert };
    const misnamed = upstreamLine(await doctor(await serve({ certificate: wrongName.cert, key: wrongName.key }), withCa));
    assert.match(misnamed, /^fail .*TLS handshake failed \(ERR_TLS_CERT_ALTNAME_INVALID\); fix: the seed's certificate is not issued for 127\.0\.0\.1: name the seed in --upstream as its certificate does, or reissue/);
    const old = upstreamLine(await doctor(await serve({ certificate: expired.cert, key: expired.key }), withCa));
    assert.match(old, /^fail .*\(CERT_HAS_EXPIRED\); fix: the seed's certificate has expired: renew it on the seed/);
    const mtls = await serve({ certificate: leaf.cert, key: leaf.key, clientCas: [clientCa.cert], helperClient: client });
    assert.match(upstreamLine(await doctor(mtls)), /^fail .*fix: the seed's certificate is not signed by a CA this host trusts: put that CA .*ca\.crt/);
    assert.match(upstreamLine(await doctor(mtls, withCa)), /^fail .*fix: the seed requires a client certificate: give --upstream-client-cert and --upstream-client-key/);
    const fine = upstreamLine(await doctor(mtls, { ...withCa, SHOAL_UPSTREAM_CLIENT_CERT: client.cert, SHOAL_UPSTREAM_CLIENT_KEY: client.key }));
    assert.match(fine, /^ok .*reachable, no login needed/);
  });

  test('setup containerd writes the CA and client files of certs.d into the seed\'s hosts.toml', async () => {
    const certsDir = join(dir, 'certs.d');
    const folder = join(certsDir, '127.0.0.1:5443');
    await mkdir(folder, { recursive: true });
    await copyFile(ca.cert, join(folder, 'ca.crt'));
    await copyFile(client.cert, join(folder, 'client.cert'));
    await copyFile(client.key, join(folder, 'client.key'));
    const run = await runShoal(['setup', 'containerd', '--containerd-dir', join(dir, 'containerd'), '--containerd-config', join(dir, 'config.toml'),
      '--upstream', 'https://127.0.0.1:5443'], { env: { SHOAL_DOCKER_CERTS_DIR: certsDir } });
    assert.equal(run.code, 0, run.stderr);
    const toml = run.stdout.split('# ==> ').find((part) => part.includes('127.0.0.1:5443/hosts.toml')) ?? assert.fail(run.stdout);
    assert.match(toml, /^server = "https:\/\/127\.0\.0\.1:5443"\nca = \[".*\/127\.0\.0\.1:5443\/ca\.crt"\]\nclient = \[\[".*\/client\.cert", ".*\/client\.key"\]\]$/m);
  });
});
