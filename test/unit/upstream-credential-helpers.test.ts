// docker's credential helpers (credsStore, credHelpers) asked as docker asks them: with a stand-in
// for the helper programs, then with a real helper script on PATH.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HELPER_TIMEOUT_MS, HELPERS_TOTAL_MS, helperCredentials, isRegistryAddress, type RunHelper } from '../../src/upstream/credential-helpers.ts';
import { loadDockerCredentials, parseDockerConfig } from '../../src/upstream/docker-credentials.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const execError = (fields: Record<string, unknown>) => Object.assign(new Error('Command failed'), fields);

/** Helpers by name, each a map of server address to [username, secret]; records every call. */
function helpers(stores: Record<string, Record<string, [string, string]>>) {
  const calls: string[] = [];
  const run: RunHelper = (helper, action, input) => {
    calls.push(`${helper} ${action} ${input}`);
    const store = stores[helper];
    if (!store) throw execError({ code: 'ENOENT' });
    if (action === 'list') return JSON.stringify(Object.fromEntries(Object.entries(store).map(([server, [user]]) => [server, user])));
    const found = store[input];
    if (!found) throw execError({ status: 1, stdout: 'credentials not found in native keychain\n' });
    return JSON.stringify({ ServerURL: input, Username: found[0], Secret: found[1] });
  };
  return { run, calls };
}

describe('docker credential helpers', () => {
  test('credsStore: every registry it lists is asked; its credentials win over the file, a credHelpers entry over both', () => {
    const { run, calls } = helpers({
      desktop: { 'https://index.docker.io/v1/': ['hubuser', 'hubsecret'], 'seed.lan:5000': ['seed', 'from-store'], 'tok.example': ['<token>', 'refresh'] },
      ecr: { 'seed.lan:5000': ['aws', 'from-helper'] },
    });
    const creds = parseDockerConfig({
      auths: { 'seed.lan:5000': { auth: b64('file:pw') }, 'other.lan': { auth: b64('o:p') }, 'https://index.docker.io/v1/': {} },
      credsStore: 'desktop',
      credHelpers: { 'seed.lan:5000': 'ecr' },
    }, undefined, run);
    assert.deepEqual(creds.lookup('docker.io'), { username: 'hubuser', password: 'hubsecret' });
    assert.deepEqual(creds.lookup('seed.lan:5000'), { username: 'aws', password: 'from-helper' });
    assert.deepEqual(creds.lookup('other.lan'), { username: 'o', password: 'p' }, 'a file entry the store lacks still counts');
    assert.equal(creds.lookup('tok.example'), undefined, 'an identity token is not a password');
    assert.deepEqual(creds.problems, []);
    assert.deepEqual(calls.sort(), ['desktop get https://index.docker.io/v1/', 'desktop get seed.lan:5000', 'desktop get tok.example', 'desktop list ', 'ecr get seed.lan:5000']);
  });

  test('only registry addresses of a store are asked (Docker Desktop keeps tokens beside them under .../v1/access-token)', () => {
    const { run, calls } = helpers({ desktop: { 'https://index.docker.io/v1/': ['hubuser', 'pw'], 'https://index.docker.io/v1/access-token': ['hubuser', 'jwt'], 'https://index.docker.io/v1/refresh-token': ['hubuser', 'rt'], 'seed.lan:5000': ['s', 'p'], 'https://reg.example/v2/': ['r', 'q'] } });
    const creds = parseDockerConfig({ credsStore: 'desktop' }, undefined, run);
    assert.deepEqual(creds.lookup('docker.io'), { username: 'hubuser', password: 'pw' });
    assert.deepEqual(creds.lookup('reg.example'), { username: 'r', password: 'q' });
    assert.ok(!calls.some((c) => c.includes('token')), calls.join('\n'));
    const both = helpers({ store: { 'seed.lan:5000': ['bare', '1'], 'https://seed.lan:5000/v2/': ['url', '2'] } });
    assert.deepEqual(parseDockerConfig({ credsStore: 'store' }, undefined, both.run).lookup('seed.lan:5000'), { username: 'bare', password: '1' }, 'the bare host key wins, as in auths');
    for (const address of ['seed.lan:5000', 'https://index.docker.io/v1/', 'http://10.0.0.1:5000', 'https://reg.example/v2', 'reg.example/']) assert.equal(isRegistryAddress(address), true, address);
    for (const address of ['https://index.docker.io/v1/access-token', 'reg.example/v1/x', '', 'https://']) assert.equal(isRegistryAddress(address), false, address);
  });

  test('a helper that is not installed is one problem saying so, asked once; "credentials not found" is none', () => {
    const { run, calls } = helpers({ pass: {} });
    const result = helperCredentials({ credsStore: 'osxkeychain', credHelpers: { 'a.lan': 'gcloud', 'b.lan': 'gcloud', 'c.lan': 'pass' } }, run);
    assert.equal(result.byServer.size + result.byHelperHost.size, 0);
    assert.equal(result.problems.length, 2, result.problems.join('\n'));
    assert.match(result.problems[0]!, /docker-credential-osxkeychain \(credsStore\) could not list its registries: not installed \(not found on PATH\); install it on this host or log in without it/);
    assert.match(result.problems[1]!, /docker-credential-gcloud \(credHelpers\) failed for a\.lan: not installed/);
    assert.deepEqual(calls, ['osxkeychain list ', 'gcloud get a.lan', 'pass get c.lan'], 'gcloud is not asked again for b.lan');
  });

  test('names that are not helper names are refused without running anything', () => {
    const { run, calls } = helpers({});
    const result = helperCredentials({ credsStore: '../../bin/sh', credHelpers: { 'a.lan': 'x y', 'b.lan': 7 } }, run);
    assert.deepEqual(calls, []);
    assert.equal(result.problems.length, 3, result.problems.join('\n'));
  });

  test('a helper that does not answer in time is given up; all of them together are bounded too', () => {
    let clock = 0;
    const asked: string[] = [];
    const run: RunHelper = (helper, _action, input, timeoutMs) => {
      asked.push(`${helper} ${input} ${timeoutMs}`);
      clock += timeoutMs;
      throw execError({ code: 'ETIMEDOUT', signal: 'SIGTERM' });
    };
    const hosts = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`h${i}.lan`, i < 2 ? 'slow' : `slow${i}`]));
    const result = helperCredentials({ credHelpers: hosts }, run, () => clock);
    // slow: asked once (h0), not for h1; slow2..: each asked until the total budget is spent.
    assert.equal(asked[0], `slow h0.lan ${HELPER_TIMEOUT_MS}`);
    assert.ok(!asked.some((a) => a.startsWith('slow h1.lan')));
    assert.ok(clock <= HELPERS_TOTAL_MS, `${clock} ms spent`);
    assert.match(result.problems.join('\n'), /no answer within 10 s/);
    assert.match(result.problems.join('\n'), /took longer than 30 s together/);
  });

  describe('a real helper program on PATH', () => {
    let dir: string;
    let path: string | undefined;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'shoal-credhelper-'));
      // Answers as docker-credential-helpers do: the secret for one server, "not found" otherwise.
      await writeFile(join(dir, 'docker-credential-shoaltest'), [
        '#!/bin/sh',
        'read server',
        'case "$1" in',
        '  list) echo \'{"seed.lan:5000":"robot"}\' ;;',
        '  get) if [ "$server" = "seed.lan:5000" ]; then echo \'{"ServerURL":"seed.lan:5000","Username":"robot","Secret":"s3cret"}\'; else echo "credentials not found in native keychain"; exit 1; fi ;;',
        'esac',
        '',
      ].join('\n'));
      await chmod(join(dir, 'docker-credential-shoaltest'), 0o755);
      path = process.env.PATH;
      process.env.PATH = `${dir}:${path ?? ''}`;
    });
    after(async () => {
      process.env.PATH = path;
      await rm(dir, { recursive: true, force: true });
    });

    test('loadDockerCredentials asks it: the seed\'s login comes from the helper, nothing else is a problem', async () => {
      const config = join(dir, 'config.json');
      await writeFile(config, JSON.stringify({ auths: { 'seed.lan:5000': {} }, credsStore: 'shoaltest', credHelpers: { 'other.lan': 'shoaltest' } }));
      const creds = loadDockerCredentials(config);
      assert.deepEqual(creds.lookup('seed.lan:5000'), { username: 'robot', password: 's3cret' });
      assert.equal(creds.lookup('other.lan'), undefined);
      assert.deepEqual(creds.problems, []);
    });
  });
});
