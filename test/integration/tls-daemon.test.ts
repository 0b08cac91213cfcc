// shoal as operators run it against a docker-registry seed serving HTTPS: the system CA store
// (SSL_CERT_FILE, read as OpenSSL reads it), skip-verify with its warnings, settings that stop
// start-up, the doctor's hints for failed handshakes, and setup containerd's ca/client entries.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, type SeedRegistry, type SeedTls } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';
import { tlsFixtures, type TlsFixtures } from '../helpers/tls-seeds.ts';
import { runShoal, type Run } from './cli-run.ts';

const MANIFEST_ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json';

describe('shoal with a seed over HTTPS', () => {
  let f: TlsFixtures;
  let noCertsDir: string;
  const nodes: ShoalProcess[] = [];

  before(async () => {
    f = await tlsFixtures('shoal-tls-daemon-');
    noCertsDir = join(f.dir, 'no-certs.d');
  });

  after(async () => {
    for (const node of nodes) await node.dispose();
    await f?.cleanup();
  });

  const serve = (tls: SeedTls): Promise<SeedRegistry> => f.serve(tls);
  const node = async (seed: SeedRegistry, args: string[] = [], env: Record<string, string> = {}): Promise<ShoalProcess> => {
    const started = await startShoal({ upstreams: [seed.url], args: ['--docker-certs-dir', noCertsDir, ...args], env });
    nodes.push(started);
    return started;
  };
  const manifest = (shoal: ShoalProcess): Promise<Response> => fetch(`${shoal.url}/v2/library/hello/manifests/1`, { headers: { accept: MANIFEST_ACCEPT } });
  const upstreamLine = (run: Run): string => run.stdout.split('\n').find((line) => /^\S+\s+upstream\s/.test(line)) ?? assert.fail(`no upstream line in:\n${run.stdout}`);

  test('an internal CA installed in the system store (SSL_CERT_FILE) is trusted with no shoal setting', async () => {
    const seed = await serve({ certificate: f.leaf.cert, key: f.leaf.key });
    const bundle = join(f.dir, 'system-bundle.pem');
    await writeFile(bundle, await readFile(f.ca.cert));
    const trusting = await node(seed, [], { SSL_CERT_FILE: bundle });
    const answer = await manifest(trusting);
    assert.equal(answer.status, 200, await answer.clone().text());
    assert.equal(answer.headers.get('docker-content-digest'), f.image.digest);
    // The same daemon without the CA in its system store refuses the seed.
    const stranger = await node(seed, [], { SSL_CERT_FILE: join(f.dir, 'empty-bundle.pem') });
    const refused = await manifest(stranger);
    assert.equal(refused.status, 503);
    assert.match(await refused.text(), /not signed by a CA this host trusts/);
  });

  test('skip-verify pulls from a seed whose certificate fails, warns at start, in doctor, on the status JSON and the status page', async () => {
    const seed = await serve({ certificate: f.wrongName.cert, key: f.wrongName.key });
    const shoal = await node(seed, ['--upstream-skip-verify']);
    assert.equal((await manifest(shoal)).status, 200);
    assert.ok(shoal.logs().some((line) => line.level === 40 && line.upstream === seed.url && /verification is OFF/.test(String(line.msg))), 'a warning at start');
    const status = await (await fetch(`${shoal.url}/_shoal/status`)).json() as { tlsSkipVerify: string[] };
    assert.deepEqual(status.tlsSkipVerify, [seed.url]);
    // The status page says it too (Debian's chromium, as in status-page.test.ts).
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: process.env.SHOAL_TEST_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${shoal.url}/_shoal/`);
      await page.locator('#tls-skip-verify').waitFor({ state: 'visible', timeout: 30_000 });
      assert.match(await page.locator('#tls-skip-verify').innerText(), new RegExp(`TLS certificates are not verified for ${seed.url.replaceAll('.', '\\.')}`));
    } finally {
      await browser.close();
    }
    const doctor = await runShoal(['doctor', '--listen', shoal.host, '--docker-config', join(f.dir, 'daemon.json')],
      { env: { SHOAL_UPSTREAM: seed.url, SHOAL_UPSTREAM_SKIP_VERIFY: 'true', SHOAL_DOCKER_CERTS_DIR: noCertsDir } });
    assert.match(doctor.stdout, /^ok +upstream +https:\/\/127\.0\.0\.1:\d+ reachable/m);
    assert.match(doctor.stdout, /^warn +upstream +https:\/\/127\.0\.0\.1:\d+: TLS certificate verification is off .*; fix: trust the seed's CA instead/m);
    const plain = await node(await serve({ certificate: f.leaf.cert, key: f.leaf.key }), ['--upstream-ca', f.ca.cert]);
    assert.deepEqual((await (await fetch(`${plain.url}/_shoal/status`)).json() as { tlsSkipVerify: string[] }).tlsSkipVerify, []);
  });

  test('a missing file or a key that is not the certificate\'s stops start-up with one line', async () => {
    const serveArgs = ['serve', '--no-swarm', '--data-dir', join(f.dir, 'never'), '--listen', `127.0.0.1:${await freePort()}`, '--upstream', 'https://127.0.0.1:5443'];
    const missing = await runShoal([...serveArgs, '--upstream-ca', join(f.dir, 'missing-ca.pem')], { timeoutMs: 20_000 });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^shoal: invalid --upstream-ca ".*missing-ca\.pem": expected an existing file; .* does not exist\n$/);
    const mismatched = await runShoal([...serveArgs, '--upstream-client-cert', f.client.cert, '--upstream-client-key', f.leaf.key], { timeoutMs: 20_000 });
    assert.equal(mismatched.code, 2);
    assert.match(mismatched.stderr, /^shoal: upstream https:\/\/127\.0\.0\.1:5443 \(--upstream-client-cert, --upstream-client-key\): client key .*seed\.key is not the key of client certificate .*client\.crt[^\n]*\n$/);
    const half = await runShoal([...serveArgs, '--upstream-client-cert', f.client.cert], { timeoutMs: 20_000 });
    assert.equal(half.code, 2);
    assert.match(half.stderr, /^shoal: [^\n]*upstream-client-cert .* is set but upstream-client-key is not: give both\n$/);
  });

  test('doctor names a name mismatch, an expired certificate, an unknown CA and a missing client certificate, each with its fix', async () => {
    // Client commands take the daemon's settings from its environment, as /etc/default/shoal gives them.
    const doctor = (seed: SeedRegistry, env: Record<string, string> = {}): Promise<Run> =>
      runShoal(['doctor', '--listen', `127.0.0.1:${seed.port + 1}`, '--docker-config', join(f.dir, 'daemon.json')],
        { env: { SHOAL_UPSTREAM: seed.url, SHOAL_DOCKER_CERTS_DIR: noCertsDir, ...env } });
    const withCa = { SHOAL_UPSTREAM_CA: f.ca.cert };
    const misnamed = upstreamLine(await doctor(await serve({ certificate: f.wrongName.cert, key: f.wrongName.key }), withCa));
    assert.match(misnamed, /^fail .*TLS handshake failed \(ERR_TLS_CERT_ALTNAME_INVALID\); fix: the seed's certificate is not issued for 127\.0\.0\.1: name the seed in --upstream as its certificate does, or reissue/);
    const old = upstreamLine(await doctor(await serve({ certificate: f.expired.cert, key: f.expired.key }), withCa));
    assert.match(old, /^fail .*\(CERT_HAS_EXPIRED\); fix: the seed's certificate has expired: renew it on the seed/);
    const mtls = await serve({ certificate: f.leaf.cert, key: f.leaf.key, clientCas: [f.clientCa.cert], helperClient: f.client });
    assert.match(upstreamLine(await doctor(mtls)), /^fail .*fix: the seed's certificate is not signed by a CA this host trusts: put that CA .*ca\.crt/);
    assert.match(upstreamLine(await doctor(mtls, withCa)), /^fail .*fix: the seed requires a client certificate: give --upstream-client-cert and --upstream-client-key/);
    const fine = upstreamLine(await doctor(mtls, { ...withCa, SHOAL_UPSTREAM_CLIENT_CERT: f.client.cert, SHOAL_UPSTREAM_CLIENT_KEY: f.client.key }));
    assert.match(fine, /^ok .*reachable, no login needed/);
  });

  test('setup containerd writes the CA and client files of certs.d into the seed\'s hosts.toml', async () => {
    const certsDir = join(f.dir, 'certs.d');
    const folder = join(certsDir, '127.0.0.1:5443');
    await mkdir(folder, { recursive: true });
    await copyFile(f.ca.cert, join(folder, 'ca.crt'));
    await copyFile(f.client.cert, join(folder, 'client.cert'));
    await copyFile(f.client.key, join(folder, 'client.key'));
    const run = await runShoal(['setup', 'containerd', '--containerd-dir', join(f.dir, 'containerd'), '--containerd-config', join(f.dir, 'config.toml'),
      '--upstream', 'https://127.0.0.1:5443'], { env: { SHOAL_DOCKER_CERTS_DIR: certsDir } });
    assert.equal(run.code, 0, run.stderr);
    const toml = run.stdout.split('# ==> ').find((part) => part.includes('127.0.0.1:5443/hosts.toml')) ?? assert.fail(run.stdout);
    assert.match(toml, /^server = "https:\/\/127\.0\.0\.1:5443"\nca = \[".*\/127\.0\.0\.1:5443\/ca\.crt"\]\nclient = \[\[".*\/client\.cert", ".*\/client\.key"\]\]$/m);
  });
});
