import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

let root: string;
let home: string;
let cwd: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'shoal-config-'));
  home = join(root, 'home');
  cwd = join(root, 'work');
  await mkdir(home);
  await mkdir(cwd);
});
after(() => rm(root, { recursive: true, force: true }));

let fileCounter = 0;
async function file(text: string, name = `config-${++fileCounter}.yml`): Promise<string> {
  const path = join(root, name);
  await writeFile(path, text);
  return path;
}

function load(argvOptions: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  return loadConfig({ argvOptions, env, cwd, homedir: home });
}

async function assertConfigError(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.match(error.message, message);
    assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    return true;
  });
}

describe('loadConfig defaults', () => {
  it('gives every default when nothing is set', async () => {
    assert.deepEqual(await load(), {
      listen: { host: '127.0.0.1', port: 5000 },
      dataDir: join(cwd, 'data'),
      upstreams: [],
      dockerConfigPath: undefined,
      tagTimeoutMs: 2000,
      upstreamTimeoutMs: 30_000,
      maxUploadBytes: 0,
      logLevel: 'info',
    });
  });
});

describe('loadConfig precedence: flag > env > file > default', () => {
  const yaml = [
    'http: {addr: "10.0.0.1:5001", maxuploadsize: 1GiB}',
    'storage: {filesystem: {rootdirectory: store}}',
    'proxy: {remoteurl: "http://file:5000", tagtimeout: 3s, timeout: 40s}',
    'log: {level: warn}',
  ].join('\n');

  it('file beats default, and relative paths in it are relative to the file', async () => {
    const config = await load({ config: await file(yaml) });
    assert.deepEqual(config.listen, { host: '10.0.0.1', port: 5001 });
    assert.equal(config.dataDir, join(root, 'store'));
    assert.deepEqual(config.upstreams, [{ url: 'http://file:5000' }]);
    assert.equal(config.tagTimeoutMs, 3000);
    assert.equal(config.upstreamTimeoutMs, 40_000);
    assert.equal(config.maxUploadBytes, 1024 ** 3);
    assert.equal(config.logLevel, 'warn');
  });

  it('env beats file; the file can come from SHOAL_CONFIG', async () => {
    const config = await load({}, {
      SHOAL_CONFIG: await file(yaml), SHOAL_LISTEN: '[::1]:6000', SHOAL_DATA_DIR: 'env-data',
      SHOAL_UPSTREAM: 'http://e1:5000, https://e2', SHOAL_TAG_TIMEOUT: '4s', SHOAL_LOG_LEVEL: 'debug',
    });
    assert.deepEqual(config.listen, { host: '::1', port: 6000 });
    assert.equal(config.dataDir, join(cwd, 'env-data'));
    assert.deepEqual(config.upstreams, [{ url: 'http://e1:5000' }, { url: 'https://e2' }]);
    assert.equal(config.tagTimeoutMs, 4000);
    assert.equal(config.upstreamTimeoutMs, 40_000, 'unset in env: file still applies');
    assert.equal(config.logLevel, 'debug');
  });

  it('flag beats env and file; empty env counts as unset', async () => {
    const config = await load(
      { config: await file(yaml), listen: '127.0.0.1:7000', upstream: ['http://f1:5000', 'http://f2:5000'], tagTimeout: '250ms' },
      { SHOAL_LISTEN: '[::1]:6000', SHOAL_UPSTREAM: 'http://e1:5000', SHOAL_TAG_TIMEOUT: '4s', SHOAL_LOG_LEVEL: '' },
    );
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 7000 });
    assert.deepEqual(config.upstreams.map((upstream) => upstream.url), ['http://f1:5000', 'http://f2:5000']);
    assert.equal(config.tagTimeoutMs, 250);
    assert.equal(config.logLevel, 'warn');
  });
});

describe('loadConfig errors name the setting and its source', () => {
  const cases: [Record<string, unknown>, Record<string, string>, RegExp][] = [
    [{ listen: 'abc' }, {}, /^invalid --listen "abc": expected HOST:PORT such as 127\.0\.0\.1:5000/],
    [{}, { SHOAL_LISTEN: 'localhost:99999' }, /^invalid SHOAL_LISTEN="localhost:99999": expected a port from 1 to 65535/],
    [{ upstream: ['http://ok:5000', 'ftp://bad'] }, {}, /^invalid --upstream "ftp:\/\/bad": expected an http/],
    [{}, { SHOAL_UPSTREAM: 'http://x/v2/' }, /^invalid SHOAL_UPSTREAM="http:\/\/x\/v2\/": expected a URL without a path/],
    [{ tagTimeout: '2' }, {}, /^invalid --tag-timeout "2": expected a duration such as 2s/],
    [{}, { SHOAL_UPSTREAM_TIMEOUT: '0s' }, /^invalid SHOAL_UPSTREAM_TIMEOUT="0s": expected a duration/],
    [{ maxUploadSize: '10 gigs' }, {}, /^invalid --max-upload-size "10 gigs": expected a size such as 10GiB/],
    [{ logLevel: 'loud' }, {}, /^invalid --log-level "loud": expected one of fatal, error/],
    [{ dockerConfig: '/nonexistent/config.json' }, {}, /^invalid --docker-config "\/nonexistent\/config\.json": expected an existing file/],
    [{ upstreamPasswordFile: '/nonexistent/pw' }, {}, /^invalid --upstream-password-file "\/nonexistent\/pw": expected a readable file.*ENOENT/],
    [{ config: '/nonexistent/shoal.yml' }, {}, /^invalid --config: cannot read config file \/nonexistent\/shoal\.yml \(ENOENT\)/],
    [{}, { SHOAL_CONFIG: '/nonexistent/shoal.yml' }, /^invalid SHOAL_CONFIG: cannot read config file/],
  ];
  for (const [flags, env, message] of cases) {
    it(`${JSON.stringify(flags)} ${JSON.stringify(env)}`, async () => {
      await assertConfigError(load(flags, env), message);
    });
  }

  it('never echoes a password', async () => {
    await assert.rejects(load({ upstream: ['http://x:5000'], upstreamPassword: '' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^invalid --upstream-password: expected a non-empty password$/);
      return true;
    });
    await assert.rejects(load({ config: await file('proxy: {remoteurl: "http://x", username: u, password: ""}') }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /:1: proxy\.password: expected a non-empty password$/);
      return true;
    });
  });
});

describe('loadConfig YAML file', () => {
  it('reads registry:2 key names and the upstreams list', async () => {
    const path = await file([
      'http:',
      '  addr: 0.0.0.0:5000',
      'storage:',
      '  filesystem:',
      '    rootdirectory: /var/lib/registry',
      'upstreams:',
      '  - url: http://192.168.64.150:5000/',
      '    username: seed',
      '    password: 0123',
      '  - url: https://registry-1.docker.io',
      'log:',
      '  level: debug',
    ].join('\n'));
    const config = await load({ config: path });
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 5000 });
    assert.equal(config.dataDir, '/var/lib/registry');
    assert.deepEqual(config.upstreams, [
      { url: 'http://192.168.64.150:5000', credentials: { username: 'seed', password: '0123' } },
      { url: 'https://registry-1.docker.io' },
    ]);
    assert.equal(config.logLevel, 'debug');
  });

  it('accepts an empty file and empty sections', async () => {
    assert.equal((await load({ config: await file('') })).listen.port, 5000);
    assert.equal((await load({ config: await file('proxy:\nlog:\n') })).logLevel, 'info');
  });

  it('rejects unknown keys by name, with the line', async () => {
    const typo = await file('http:\n  adr: 127.0.0.1:5000\n');
    await assertConfigError(load({ config: typo }), new RegExp(`^config file ${typo}:2: unknown key "http\\.adr" \\(known under http: addr, maxuploadsize\\)$`));
    await assertConfigError(load({ config: await file('version: 0.1\n') }), /:1: unknown key "version" \(known at the top: http, storage, proxy, log, upstreams\)/);
    await assertConfigError(load({ config: await file('upstreams:\n  - url: http://a\n    user: x\n') }), /:3: unknown key "upstreams\[0\]\.user" \(known: url, username, password, passwordfile\)/);
  });

  it('reports bad values with file, line and key', async () => {
    const path = await file('log:\n  level: info\nhttp:\n  addr: abc\n');
    await assertConfigError(load({ config: path }), new RegExp(`^config file ${path}:4: http\\.addr "abc": expected HOST:PORT such as 127\\.0\\.0\\.1:5000`));
    await assertConfigError(load({ config: await file('http:\n  addr: [a, b]\n') }), /:2: http\.addr: expected a single value, not a list or mapping/);
    await assertConfigError(load({ config: await file('http: 5000\n') }), /:1: http: expected a mapping with keys addr, maxuploadsize/);
  });

  it('reports malformed YAML with file and line', async () => {
    const path = await file('http:\n  addr: 127.0.0.1:5000\n  addr: 127.0.0.1:5001\n');
    await assertConfigError(load({ config: path }), new RegExp(`^config file ${path}:3: malformed YAML: Map keys must be unique`));
    await assertConfigError(load({ config: await file('http: {addr: x\nlog: [\n') }), /^config file .*:\d+: malformed YAML: /);
  });

  it('rejects proxy.remoteurl together with upstreams, and credentials without a URL', async () => {
    await assertConfigError(load({ config: await file('proxy: {remoteurl: "http://a"}\nupstreams: [{url: "http://b"}]\n') }), /:1: proxy\.remoteurl and upstreams: name upstreams in one place/);
    await assertConfigError(load({ config: await file('proxy:\n  username: u\n') }), /:2: proxy\.username is set but proxy\.remoteurl is not/);
  });
});

describe('loadConfig upstream credentials', () => {
  it('flag credentials apply to the first upstream; file credentials stay with the file\'s URLs', async () => {
    const path = await file('proxy: {remoteurl: "http://seed:5000", username: fileuser, password: filepass}\n');
    assert.deepEqual((await load({ config: path })).upstreams, [{ url: 'http://seed:5000', credentials: { username: 'fileuser', password: 'filepass' } }]);
    assert.deepEqual((await load({ config: path, upstreamPassword: 'flagpass' })).upstreams,
      [{ url: 'http://seed:5000', credentials: { username: 'fileuser', password: 'flagpass' } }]);
    assert.deepEqual((await load({ config: path, upstream: ['http://other:5000'] })).upstreams, [{ url: 'http://other:5000' }]);
    assert.deepEqual((await load({ upstream: ['http://a', 'http://b'] }, { SHOAL_UPSTREAM_USERNAME: 'u', SHOAL_UPSTREAM_PASSWORD: 'p' })).upstreams,
      [{ url: 'http://a', credentials: { username: 'u', password: 'p' } }, { url: 'http://b' }]);
  });

  it('reads the password from a file, trimmed, relative to the config file there', async () => {
    await file('  s3cret\n\n', 'pw.txt');
    const config = await load({ upstream: ['http://a'], upstreamUsername: 'u', upstreamPasswordFile: join(root, 'pw.txt') });
    assert.deepEqual(config.upstreams[0]?.credentials, { username: 'u', password: 's3cret' });
    const path = await file('upstreams: [{url: "http://a", username: u, passwordfile: pw.txt}]\n');
    assert.deepEqual((await load({ config: path })).upstreams[0]?.credentials, { username: 'u', password: 's3cret' });
    await file('\n', 'empty-pw.txt');
    await assertConfigError(load({ upstream: ['http://a'], upstreamUsername: 'u', upstreamPasswordFile: join(root, 'empty-pw.txt') }), /^invalid --upstream-password-file ".*": expected a file holding the password; .* is empty$/);
  });

  it('rejects half credentials, credentials without an upstream, and two ways to give a password', async () => {
    await assertConfigError(load({ upstream: ['http://a:5000'], upstreamPassword: 'hunter2' }), /^upstream http:\/\/a:5000: --upstream-password is set but no user name is; registry auth needs both$/);
    await assertConfigError(load({ upstream: ['http://a'] }, { SHOAL_UPSTREAM_USERNAME: 'u' }), /^upstream http:\/\/a: SHOAL_UPSTREAM_USERNAME is set but no password is/);
    await assertConfigError(load({ upstreamUsername: 'u', upstreamPassword: 'p' }), /^--upstream-username is set but no upstream is configured/);
    await assertConfigError(load({ upstream: ['http://a'], upstreamUsername: 'u', upstreamPassword: 'p', upstreamPasswordFile: '/x' }), /^--upstream-password and --upstream-password-file are both set/);
  });
});

describe('loadConfig docker config', () => {
  it('defaults to ~/.docker/config.json only when it exists, and follows DOCKER_CONFIG like docker does', async () => {
    assert.equal((await load()).dockerConfigPath, undefined);
    await mkdir(join(home, '.docker'));
    await writeFile(join(home, '.docker', 'config.json'), '{}');
    assert.equal((await load()).dockerConfigPath, join(home, '.docker', 'config.json'));
    const dockerConfigDir = join(root, 'docker-config');
    assert.equal((await load({}, { DOCKER_CONFIG: dockerConfigDir })).dockerConfigPath, undefined);
    await mkdir(dockerConfigDir);
    await writeFile(join(dockerConfigDir, 'config.json'), '{}');
    assert.equal((await load({}, { DOCKER_CONFIG: dockerConfigDir })).dockerConfigPath, join(dockerConfigDir, 'config.json'));
    assert.equal((await load({ dockerConfig: join(dockerConfigDir, 'config.json') })).dockerConfigPath, join(dockerConfigDir, 'config.json'));
  });
});
