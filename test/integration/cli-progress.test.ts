// Unit tests of the client commands' pure parts: progress formatting, image names, config merges.
// (Under test/integration with the other cli-* tests; no process or network is used.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseImageRef, parsePlatform, platformMatches } from '../../src/cli/image-ref.ts';
import {
  etaSeconds, fitWidth, formatAgo, formatElapsed, formatEta, formatPercent, formatRate, formatSourceSplit,
  RateMeter, renderBar, renderPlainLine, renderProgressLine, roundShares,
} from '../../src/cli/progress.ts';
import { containerdHosts, mentionsDaemon, mergeDaemonJson, mergeHostsToml, mirrorUrl, timestamp } from '../../src/cli/setup.ts';
import { checkDockerConfig, renderCheck } from '../../src/cli/doctor.ts';
import { table } from '../../src/cli/terminal.ts';

describe('progress formatting', () => {
  test('rates', () => {
    assert.equal(formatRate(12.3 * 1024 ** 2), '12.3 MiB/s');
    assert.equal(formatRate(undefined), '0 B/s');
    assert.equal(formatRate(Infinity), '0 B/s');
  });

  test('ETA: unknown, seconds, minutes, hours', () => {
    assert.equal(formatEta(undefined), '--');
    assert.equal(formatEta(Infinity), '--');
    assert.equal(formatEta(0), '0s');
    assert.equal(formatEta(41.2), '42s');
    assert.equal(formatEta(65), '1m05s');
    assert.equal(formatEta(3600 * 2 + 7 * 60), '2h07m');
    assert.equal(formatEta(1e9), '>99h');
    assert.equal(etaSeconds(50, 100, 10), 5);
    assert.equal(etaSeconds(100, 100, undefined), 0, 'done needs no rate');
    assert.equal(etaSeconds(50, 100, 0), undefined);
  });

  test('elapsed times and ages', () => {
    assert.equal(formatElapsed(4200), '4.2 s');
    assert.equal(formatElapsed(0), '0.0 s');
    assert.equal(formatElapsed(59_940), '59.9 s');
    assert.equal(formatElapsed(65_000), '1m05s');
    assert.equal(formatAgo(300), 'now');
    assert.equal(formatAgo(3_500), '3 s ago');
    assert.equal(formatAgo(4 * 60_000), '4 min ago');
    assert.equal(formatAgo(3 * 86_400_000), '3 d ago');
  });

  test('percentages and the seed/peers split add to 100', () => {
    assert.equal(formatPercent(1, 3), '33%');
    assert.equal(formatPercent(5, 0), '100%');
    assert.equal(formatPercent(0, 0), '0%');
    assert.equal(formatPercent(200, 100), '100%');
    assert.deepEqual(roundShares([1, 1, 1], 3), [34, 33, 33]);
    assert.equal(formatSourceSplit(100, 0, 100), 'seed 100%, peers 0%');
    assert.equal(formatSourceSplit(0, 0, 100), 'seed 0%, peers 0%, cached 100%');
    assert.equal(formatSourceSplit(25, 50, 100), 'seed 25%, peers 50%, cached 25%');
    assert.equal(formatSourceSplit(0, 0, 0), 'seed 0%, peers 0%');
    assert.equal(formatSourceSplit(120, 0, 100), 'seed 100%, peers 0%', 'counters that ran ahead (other pulls) are capped');
  });

  test('bars', () => {
    assert.equal(renderBar(0, 10), '░'.repeat(10));
    assert.equal(renderBar(0.5, 10), '█'.repeat(5) + '░'.repeat(5));
    assert.equal(renderBar(1.7, 4), '████');
    assert.equal(renderBar(Number.NaN, 4, true), '----');
    assert.equal(renderBar(0.25, 8, true), '##------');
  });

  test('the terminal line fits the width; the plain line has no control codes and no bar', () => {
    const state = { label: 'nginx:1.14', done: 10 * 1024 ** 2, total: 40 * 1024 ** 2, bytesPerSecond: 5 * 1024 ** 2, fromSeed: 10 * 1024 ** 2, fromPeers: 0 };
    const line = renderProgressLine(state, 120);
    assert.match(line, /^nginx:1\.14 █+░+  25%  10\.0 MiB \/ 40\.0 MiB  5\.0 MiB\/s  ETA 6s  seed 100%, peers 0%$/);
    assert.ok([...line].length <= 119);
    assert.ok([...renderProgressLine(state, 40)].length <= 39);
    assert.equal(renderPlainLine(state), 'nginx:1.14  25%  10.0 MiB / 40.0 MiB  5.0 MiB/s  ETA 6s  seed 100%, peers 0%');
    assert.equal(renderPlainLine({ ...state, fromSeed: 0, fromPeers: 0 }), 'nginx:1.14  25%  10.0 MiB / 40.0 MiB  5.0 MiB/s  ETA 6s', 'no split before the counters move');
    assert.match(renderPlainLine({ ...state, fromSeed: 1, fromPeers: 3 }), /seed 25%, peers 75%$/);
    assert.equal(fitWidth('abcdef', 5), 'abc…');
    assert.equal(fitWidth('abc', undefined), 'abc');
  });

  test('the rate meter averages over its window', () => {
    const meter = new RateMeter(1000);
    assert.equal(meter.rate(), undefined);
    meter.sample(0, 0);
    meter.sample(100, 100);
    assert.equal(meter.rate(), undefined, 'too short to tell');
    meter.sample(500, 500);
    assert.equal(meter.rate(), 1000);
    for (let t = 600; t <= 5000; t += 100) meter.sample(t, 500 + (t - 500) * 10);
    assert.ok(Math.abs(meter.rate()! - 10_000) < 1, `old samples drop out: ${meter.rate()}`);
  });

  test('tables and check lines', () => {
    assert.deepEqual(table([['a', 'bb', 'c'], ['ddd', 'e', 'f']]), ['a    bb  c', 'ddd  e   f']);
    assert.equal(renderCheck({ name: 'peers', level: 'warn', message: 'no peers found', fix: 'start more' }), 'warn  peers       no peers found; fix: start more');
    assert.equal(renderCheck({ name: 'daemon', level: 'ok', message: 'fine', fix: 'ignored' }), 'ok    daemon      fine');
  });
});

describe('image names', () => {
  const daemon = ['127.0.0.1:5000', 'localhost:5000'];
  const cases: Array<[string, string, string]> = [
    ['nginx:1.14', 'nginx', '1.14'],
    ['nginx', 'nginx', 'latest'],
    ['library/nginx', 'library/nginx', 'latest'],
    ['registry.example.com/org/app:tag', 'registry.example.com/org/app', 'tag'],
    ['registry.lan:5000/team/app', 'registry.lan:5000/team/app', 'latest'],
    ['localhost:5000/nginx:1.14', 'nginx', '1.14'],
    ['127.0.0.1:5000/registry.example.com/org/app:1', 'registry.example.com/org/app', '1'],
    [`app@sha256:${'a'.repeat(64)}`, 'app', `sha256:${'a'.repeat(64)}`],
    [`app:1@sha256:${'b'.repeat(64)}`, 'app', `sha256:${'b'.repeat(64)}`],
    ['REGISTRY.Example.com/org/app', 'registry.example.com/org/app', 'latest'],
  ];
  for (const [input, name, reference] of cases) {
    test(`${input} → ${name} ${reference}`, () => {
      const ref = parseImageRef(input, daemon);
      assert.equal(ref.name, name);
      assert.equal(ref.reference, reference);
    });
  }

  test('mistakes say what is wrong', () => {
    assert.throws(() => parseImageRef('Nginx'), /"Nginx" is not a valid repository name; repository names are lowercase: nginx/);
    assert.throws(() => parseImageRef('app:-x'), /"-x" is not a valid tag/);
    assert.throws(() => parseImageRef('app@sha256:123'), /is not a digest/);
    assert.throws(() => parseImageRef(' '), /an empty image name/);
  });

  test('platforms', () => {
    assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.throws(() => parsePlatform('amd64'), /expected os\/arch/);
    assert.ok(platformMatches(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' }), 'no variant asked: any');
    assert.ok(!platformMatches(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v6' }));
  });
});

describe('client configuration merges', () => {
  const listen = { host: '127.0.0.1', port: 5000 };

  test('mirror URLs and what counts as this daemon', () => {
    assert.equal(mirrorUrl(listen), 'http://127.0.0.1:5000');
    assert.equal(mirrorUrl({ host: '0.0.0.0', port: 5000 }), 'http://127.0.0.1:5000');
    assert.equal(mirrorUrl({ host: '10.0.0.5', port: 5000 }), 'http://10.0.0.5:5000');
    assert.ok(mentionsDaemon('http://localhost:5000', listen));
    assert.ok(mentionsDaemon('http://127.0.0.1:5000/', listen));
    assert.ok(mentionsDaemon('127.0.0.1:5000', listen));
    assert.ok(!mentionsDaemon('http://127.0.0.1:5001', listen));
    assert.ok(!mentionsDaemon('https://mirror.gcr.io', listen));
  });

  test('daemon.json: merged once, indentation kept, a LAN listen address also made insecure', () => {
    const first = mergeDaemonJson('{\n\t"debug": true\n}\n', 'd.json', listen);
    assert.equal(first.text, '{\n\t"debug": true,\n\t"registry-mirrors": [\n\t\t"http://127.0.0.1:5000"\n\t]\n}\n');
    assert.deepEqual(mergeDaemonJson(first.text, 'd.json', listen), { text: first.text, changed: false });
    const lan = JSON.parse(mergeDaemonJson(undefined, 'd.json', { host: '10.0.0.5', port: 5000 }).text) as Record<string, unknown>;
    assert.deepEqual(lan, { 'registry-mirrors': ['http://10.0.0.5:5000'], 'insecure-registries': ['10.0.0.5:5000'] });
    assert.throws(() => mergeDaemonJson('[]', 'd.json', listen), /JSON but not an object; refusing/);
    assert.throws(() => mergeDaemonJson('{"registry-mirrors": "x"}', 'd.json', listen), /not a list of URLs; refusing/);
    assert.deepEqual(JSON.parse(mergeDaemonJson('  \n', 'd.json', listen).text), { 'registry-mirrors': ['http://127.0.0.1:5000'] });
  });

  test('hosts.toml: one per registry, Docker Hub aliases folded; a foreign file gets shoal inserted before its first table', () => {
    assert.deepEqual(containerdHosts(['https://registry-1.docker.io', 'http://10.0.0.1:5000']).map((h) => h.host), ['docker.io', '10.0.0.1:5000']);
    const file = { host: 'docker.io', server: 'https://registry-1.docker.io' };
    const noTables = mergeHostsToml('server = "https://registry-1.docker.io"\n', file, 'http://127.0.0.1:5000');
    assert.ok(noTables.changed);
    assert.match(noTables.text, /^server = .*\n\n# Added by shoal[^\n]*\n\[host\."http:\/\/127\.0\.0\.1:5000"\]\n {2}capabilities = \["pull", "resolve"\]\n$/);
    assert.deepEqual(mergeHostsToml(noTables.text, file, 'http://127.0.0.1:5000'), { text: noTables.text, changed: false });
  });

  test('doctor: docker.io through shoal needs registry-mirrors; a private seed does not', async () => {
    const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'shoal-docker-check-'));
    try {
      const path = join(dir, 'daemon.json');
      const hub = ['https://registry-1.docker.io'];
      const missing = await checkDockerConfig(path, listen, hub);
      assert.equal(missing.level, 'warn');
      assert.equal(missing.fix, 'shoal setup docker --write, then restart dockerd (or pull as localhost:5000/<image>)');
      assert.equal((await checkDockerConfig(path, listen, ['http://192.168.64.150:5000'])).message, `no ${path}, none needed: pull as localhost:5000/<image>`);
      await writeFile(path, JSON.stringify({ 'registry-mirrors': ['https://mirror.gcr.io'] }));
      const other = await checkDockerConfig(path, listen, hub);
      assert.equal(other.level, 'warn');
      assert.match(other.message, /has no http:\/\/127\.0\.0\.1:5000 in registry-mirrors \(it has https:\/\/mirror\.gcr\.io\): docker\.io pulls bypass shoal/);
      assert.equal(other.fix, 'shoal setup docker --write, then restart dockerd');
      await writeFile(path, JSON.stringify({ 'registry-mirrors': ['http://localhost:5000'] }));
      assert.equal((await checkDockerConfig(path, listen, hub)).level, 'ok');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('backup timestamps', () => {
    assert.equal(timestamp(new Date('2026-01-28T10:11:12.345Z')), '20260128T101112Z');
  });
});
