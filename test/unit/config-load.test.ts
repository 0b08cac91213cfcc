import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { generateClusterKey } from '../../src/swarm/cluster-key.ts';

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA';
const BOOT_A = `/ip4/10.0.0.5/tcp/5001/p2p/${PEER}`;
const BOOT_B = `/dns4/seed.lan/tcp/5001/p2p/${PEER}`;

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
      allowedRegistries: [],
      dockerConfigPath: undefined,
      tagTimeoutMs: 2000,
      upstreamTimeoutMs: 30_000,
      upstreamBodyTimeoutMs: 20_000,
      dockerCertsDir: '/etc/docker/certs.d',
      maxUploadBytes: 0,
      metricsListen: undefined,
      logLevel: 'info',
      swarm: {
        enabled: true, p2pPort: 5001, peerPort: 5002, bindAddress: '0.0.0.0', advertiseAddress: undefined,
        bootstrap: [], mdns: true, maxPeerConnections: 300, ownerCommittee: 0, clusterKeyPath: undefined, pieceSize: 4 * 1024 * 1024,
      },
      auth: { htpasswdPath: undefined, anonymousPull: 'loopback', allowInsecureListen: false },
      disk: { maxBytes: 0, highWatermarkPercent: 90, lowWatermarkPercent: 80 },
      neighbour: { uploadBytesPerSecond: 0, downloadBytesPerSecond: 0, seedBytesPerSecond: 0, maxPeerServes: 32, rangeFetch: 'fetch-all' },
    });
  });
});

describe('loadConfig precedence: flag > env > file > default', () => {
  const yaml = [
    'http: {addr: "10.0.0.1:5003", maxuploadsize: 1GiB}',
    'auth: {allowinsecurelisten: true}',
    'storage: {filesystem: {rootdirectory: store}}',
    'proxy: {remoteurl: "http://file:5000", tagtimeout: 3s, timeout: 40s}',
    'log: {level: warn}',
  ].join('\n');

  it('file beats default, and relative paths in it are relative to the file', async () => {
    const config = await load({ config: await file(yaml) });
    assert.deepEqual(config.listen, { host: '10.0.0.1', port: 5003 });
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
    [{}, { SHOAL_SWARM: 'nope' }, /^invalid SHOAL_SWARM="nope": expected true or false$/],
    [{}, { SHOAL_MDNS: 'maybe' }, /^invalid SHOAL_MDNS="maybe": expected true or false$/],
    [{ p2pPort: '65536' }, {}, /^invalid --p2p-port "65536": expected a port from 0 to 65535 \(0 = any free port\)$/],
    [{}, { SHOAL_P2P_PORT: '-1' }, /^invalid SHOAL_P2P_PORT="-1": expected a port from 0 to 65535/],
    [{ peerPort: 'http' }, {}, /^invalid --peer-port "http": expected a port from 0 to 65535/],
    [{ bindAddress: 'localhost' }, {}, /^invalid --bind-address "localhost": expected an IP address such as 0\.0\.0\.0, 192\.168\.1\.10 or ::, not a host name$/],
    [{}, { SHOAL_BIND_ADDRESS: '10.0.0.256' }, /^invalid SHOAL_BIND_ADDRESS="10\.0\.0\.256": expected an IP address/],
    [{ advertiseAddress: 'shoal.lan' }, {}, /^invalid --advertise-address "shoal\.lan": expected an IP address/],
    [{ advertiseAddress: '0.0.0.0' }, {}, /^invalid --advertise-address "0\.0\.0\.0": expected the IP other hosts reach this one at.*cannot be dialled$/],
    [{ allowedRegistries: ['https://registry.example.com/v2'] }, {}, /^invalid --allowed-registries "https:\/\/registry\.example\.com\/v2": expected a registry host\[:port\] such as registry\.example\.com/],
    [{ bootstrap: ['10.0.0.5:5001'] }, {}, /^invalid --bootstrap "10\.0\.0\.5:5001": expected a multiaddr such as \/ip4\/10\.0\.0\.5\/tcp\/5001\/p2p\/12D3KooW\.\.\.$/],
    [{ bootstrap: [BOOT_A, '/ip4/10.0.0.6/tcp/5001'] }, {}, /^invalid --bootstrap "\/ip4\/10\.0\.0\.6\/tcp\/5001": expected a multiaddr ending in \/p2p\/<peer id> such as \/ip4\/10\.0\.0\.5\/tcp\/5001\/p2p\/12D3KooW\.\.\./],
    [{}, { SHOAL_BOOTSTRAP: '/ip4/10.0.0.5/tcp/5001/p2p/notapeer' }, /^invalid SHOAL_BOOTSTRAP=".*": expected a multiaddr ending in \/p2p\/<peer id> .*; "notapeer" is not a peer id$/],
    [{ bootstrap: ['/ip4/999.0.0.5/tcp/5001'] }, {}, /^invalid --bootstrap ".*": expected a multiaddr such as \/ip4\/10\.0\.0\.5\/tcp\/5001\/p2p\/12D3KooW\.\.\.; .*999\.0\.0\.5/],
    [{ bootstrap: [`/ip4/10.0.0.5/udp/5001/p2p/${PEER}`] }, {}, /^invalid --bootstrap ".*": expected \/ip4\|ip6\|dns\|dns4\|dns6\/<host>\/tcp\/<port>\/p2p\/<peer id> .*: shoal dials peers over TCP$/],
    [{ clusterKey: '/nonexistent/swarm.key' }, {}, /^invalid --cluster-key "\/nonexistent\/swarm\.key": expected a cluster key file as shoal keygen writes it; cannot read cluster key \/nonexistent\/swarm\.key: ENOENT/],
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

  it('never echoes a password written inside an upstream URL (flag, environment or file)', async () => {
    const url = 'https://seeduser:s3cretPass@127.0.0.1:9602';
    const configFile = await file(`proxy: {remoteurl: "${url}"}`);
    const attempts = [() => load({ upstream: [url] }), () => load({}, { SHOAL_UPSTREAM: url }), () => load({ config: configFile })];
    for (const attempt of attempts) {
      await assert.rejects(attempt(), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.doesNotMatch(error.message, /s3cretPass/);
        assert.match(error.message, /expected a URL without user:password@ \(https:\/\/127\.0\.0\.1:9602\)/);
        return true;
      });
    }
    // Nor when something else is wrong with it as well.
    for (const bad of ['https://u:s3cretPass@127.0.0.1:99999', 'ftp://u:s3cretPass@host', 'u:s3cretPass@host:5000', 'https://u:s3cretPass@host/path']) {
      await assert.rejects(load({ upstream: [bad] }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.doesNotMatch(error.message, /s3cretPass/, bad);
        return true;
      });
    }
  });
});

describe('loadConfig YAML file', () => {
  it('reads registry:2 key names and the upstreams list', async () => {
    const path = await file([
      'http:',
      '  addr: 0.0.0.0:5000',
      'auth:',
      '  allowinsecurelisten: true',
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
    await assertConfigError(load({ config: typo }), new RegExp(`^config file ${typo}:2: unknown key "http\\.adr" \\(known under http: addr, maxuploadsize, metricsaddr\\)$`));
    await assertConfigError(load({ config: await file('version: 0.1\n') }), /:1: unknown key "version" \(known at the top: http, storage, proxy, auth, log, swarm, upstreams\)/);
    await assertConfigError(load({ config: await file('upstreams:\n  - url: http://a\n    user: x\n') }), /:3: unknown key "upstreams\[0\]\.user" \(known: url, username, password, passwordfile, ca, clientcert, clientkey, skipverify\)/);
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

describe('loadConfig swarm settings', () => {
  it('takes flag over env over file over default, for ports, lists and switches', async () => {
    const path = await file(`swarm:\n  p2pport: 6001\n  bootstrap:\n    - ${BOOT_A}\n    - ${BOOT_B}\n  mdns: false\n`);
    const fromFile = (await load({ config: path })).swarm;
    assert.equal(fromFile.p2pPort, 6001);
    assert.deepEqual(fromFile.bootstrap, [BOOT_A, BOOT_B]);
    assert.equal(fromFile.mdns, false);
    assert.equal(fromFile.peerPort, 5002, 'unset in the file: default');

    const fromEnv = (await load({ config: path }, { SHOAL_P2P_PORT: '7001', SHOAL_BOOTSTRAP: ` ${BOOT_B} ,`, SHOAL_MDNS: 'true' })).swarm;
    assert.equal(fromEnv.p2pPort, 7001);
    assert.deepEqual(fromEnv.bootstrap, [BOOT_B], 'the list comes whole from one source');
    assert.equal(fromEnv.mdns, true);

    const fromFlags = (await load(
      { config: path, p2pPort: '0', bootstrap: [BOOT_A], mdns: false },
      { SHOAL_P2P_PORT: '7001', SHOAL_BOOTSTRAP: BOOT_B, SHOAL_MDNS: 'true' },
    )).swarm;
    assert.equal(fromFlags.p2pPort, 0);
    assert.deepEqual(fromFlags.bootstrap, [BOOT_A]);
    assert.equal(fromFlags.mdns, false, '--no-mdns beats SHOAL_MDNS=true');
  });

  it('turns the swarm and mDNS off from a flag (--no-swarm, --no-mdns give false), the environment or the file', async () => {
    assert.equal((await load({ swarm: false })).swarm.enabled, false);
    assert.equal((await load({ mdns: false })).swarm.mdns, false);
    assert.equal((await load({}, { SHOAL_SWARM: 'false' })).swarm.enabled, false);
    assert.equal((await load({}, { SHOAL_SWARM: 'OFF', SHOAL_MDNS: '0' })).swarm.mdns, false);
    assert.equal((await load({ config: await file('swarm: {enabled: no}\n') })).swarm.enabled, false);
    assert.equal((await load({ config: await file('swarm: {enabled: false}\n') }, { SHOAL_SWARM: 'true' })).swarm.enabled, true);
  });

  it('reads the whole swarm: section, paths relative to the file', async () => {
    const keyPath = join(root, 'cluster.key');
    await writeFile(keyPath, generateClusterKey());
    const path = await file([
      'swarm:',
      '  enabled: true',
      '  p2pport: 4001',
      '  peerport: 0',
      '  bindaddress: "::"',
      '  advertiseaddress: 192.168.1.10',
      `  bootstrap: [${BOOT_A}]`,
      '  mdns: off',
      '  maxpeerconnections: 200',
      '  ownercommittee: 0',
      '  clusterkey: cluster.key',
      '  piecesize: 1MiB',
    ].join('\n'));
    assert.deepEqual((await load({ config: path })).swarm, {
      enabled: true, p2pPort: 4001, peerPort: 0, bindAddress: '::', advertiseAddress: '192.168.1.10',
      bootstrap: [BOOT_A], mdns: false, maxPeerConnections: 200, ownerCommittee: 0, clusterKeyPath: keyPath, pieceSize: 1024 * 1024,
    });
  });

  it('takes one bootstrap address as a plain value, and nothing as the empty list', async () => {
    assert.deepEqual((await load({ config: await file(`swarm:\n  bootstrap: ${BOOT_A}\n`) })).swarm.bootstrap, [BOOT_A]);
    assert.deepEqual((await load({ config: await file('swarm:\n  bootstrap:\n') })).swarm.bootstrap, []);
    assert.deepEqual((await load({ config: await file('swarm:\n  bootstrap: []\n') })).swarm.bootstrap, []);
  });

  it('reports bad swarm: values with file, line and key', async () => {
    const path = await file(`swarm:\n  bootstrap:\n    - ${BOOT_A}\n    - /ip4/10.0.0.7/tcp/5001\n`);
    await assertConfigError(load({ config: path }),
      new RegExp(`^config file ${path}:4: swarm\\.bootstrap\\[1\\] "/ip4/10\\.0\\.0\\.7/tcp/5001": expected a multiaddr ending in /p2p/<peer id>`));
    await assertConfigError(load({ config: await file('swarm:\n  bootstrap:\n    - {a: b}\n') }), /:3: swarm\.bootstrap\[0\]: expected a single value, not a list or mapping$/);
    await assertConfigError(load({ config: await file('swarm:\n  p2pport: [1]\n') }), /:2: swarm\.p2pport: expected a single value, not a list or mapping$/);
    await assertConfigError(load({ config: await file('swarm:\n  mdns: sometimes\n') }), /:2: swarm\.mdns "sometimes": expected true or false$/);
    await assertConfigError(load({ config: await file('swarm:\n  port: 1\n') }),
      /:2: unknown key "swarm\.port" \(known under swarm: enabled, p2pport, peerport, bindaddress, advertiseaddress, bootstrap, mdns, maxpeerconnections, ownercommittee, piecesize, uploadrate, downloadrate, maxpeerserves, clusterkey\)$/);
    await assertConfigError(load({ config: await file('swarm:\n  maxpeerconnections: 0\n') }), /:2: swarm\.maxpeerconnections "0": expected a whole number of connections from 1 to 100000$/);
    await assertConfigError(load({ config: await file('swarm:\n  ownercommittee: -1\n') }), /:2: swarm\.ownercommittee "-1": expected a whole number of hosts from 0 \(off\) to 1000, such as 16$/);
    await assertConfigError(load({ config: await file('swarm:\n  piecesize: 1KiB\n') }), /:2: swarm\.piecesize "1KiB": expected a size from 64KiB to 64MiB/);
  });

  it('accepts a cluster key file that loadClusterKey accepts, and names the setting for one it does not', async () => {
    const keyPath = join(root, 'good.key');
    await writeFile(keyPath, generateClusterKey());
    assert.equal((await load({ clusterKey: keyPath })).swarm.clusterKeyPath, keyPath);
    assert.equal((await load({}, { SHOAL_CLUSTER_KEY: keyPath })).swarm.clusterKeyPath, keyPath);
    const badPath = join(root, 'bad.key');
    await writeFile(badPath, '/key/swarm/psk/1.0.0/\n/base16/\nnothex\n');
    await assertConfigError(load({}, { SHOAL_CLUSTER_KEY: badPath }),
      new RegExp(`^invalid SHOAL_CLUSTER_KEY="${badPath}": expected a cluster key file as shoal keygen writes it; ${badPath}: not a cluster key: the key line must be 64 hex characters$`));
  });

  it('rejects ports that would collide, naming both settings and where each came from', async () => {
    await assertConfigError(load({ peerPort: '5001' }), /^peer-port \(--peer-port\) and p2p-port \(default\) are both port 5001: each needs its own port \(or 0 for any free one\)$/);
    await assertConfigError(load({}, { SHOAL_P2P_PORT: '6000', SHOAL_PEER_PORT: '6000' }), /^peer-port \(SHOAL_PEER_PORT\) and p2p-port \(SHOAL_P2P_PORT\) are both port 6000/);
    await assertConfigError(load({ listen: '127.0.0.1:5002' }), /^peer-port \(default\) and listen 127\.0\.0\.1:5002 \(--listen\) are both port 5002/);
    await assertConfigError(load({ listen: 'localhost:7000', p2pPort: '7000' }), /^p2p-port \(--p2p-port\) and listen localhost:7000 \(--listen\) are both port 7000/);
    const path = await file('http: {addr: "0.0.0.0:6000"}\nswarm: {peerport: 6000, bindaddress: 10.0.0.2}\n');
    await assertConfigError(load({ config: path }),
      /^peer-port \(config file .*:2 \(swarm\.peerport\)\) and listen 0\.0\.0\.0:6000 \(config file .*:1 \(http\.addr\)\) are both port 6000/);
  });

  it('allows equal ports where they cannot collide: 0, distinct addresses, or the swarm off', async () => {
    assert.equal((await load({ p2pPort: '0', peerPort: '0' })).swarm.peerPort, 0);
    assert.equal((await load({ listen: '10.0.0.1:5001', bindAddress: '10.0.0.2', allowInsecureListen: true })).swarm.p2pPort, 5001);
    const off = await load({ swarm: false, listen: '127.0.0.1:5001', peerPort: '5001' });
    assert.equal(off.swarm.enabled, false);
    assert.equal(off.swarm.peerPort, 5001);
  });

  it('rejects an advertise address of a family the bind address does not listen on', async () => {
    await assertConfigError(load({ advertiseAddress: 'fd00::5' }),
      /^advertise-address fd00::5 \(--advertise-address\) is IPv6 but bind-address 0\.0\.0\.0 listens on IPv4 only; bind to :: or advertise an IPv4 address$/);
    assert.equal((await load({ advertiseAddress: 'fd00::5', bindAddress: '::' })).swarm.advertiseAddress, 'fd00::5');
    assert.equal((await load({ advertiseAddress: '10.1.2.3', bindAddress: '[::]' })).swarm.bindAddress, '::');
  });
});
