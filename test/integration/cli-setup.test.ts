// `shoal setup docker|containerd` as a real process on files in a temp directory.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runShoal } from './cli-run.ts';

describe('shoal setup', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-setup-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  describe('docker', () => {
    test('--write merges registry-mirrors into an existing daemon.json, keeps every other key, backs it up; a re-run changes nothing', async () => {
      const path = join(dir, 'daemon.json');
      const original = `${JSON.stringify({ 'log-driver': 'journald', 'registry-mirrors': ['https://mirror.example.com'], 'insecure-registries': ['192.168.64.150:5000'], features: { buildkit: true } }, null, 2)}\n`;
      await writeFile(path, original, { mode: 0o640 });

      const run = await runShoal(['setup', 'docker', '--write', '--docker-config', path]);
      assert.equal(run.code, 0, run.stderr);
      const written = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      assert.deepEqual(written, {
        'log-driver': 'journald',
        'registry-mirrors': ['http://127.0.0.1:5000', 'https://mirror.example.com'],
        'insecure-registries': ['192.168.64.150:5000'],
        features: { buildkit: true },
      });
      assert.equal((await stat(path)).mode & 0o777, 0o640, 'the file keeps its mode');
      const backups = (await readdir(dir)).filter((name) => name.startsWith('daemon.json.shoal-backup-'));
      assert.equal(backups.length, 1);
      assert.match(backups[0]!, /^daemon\.json\.shoal-backup-\d{8}T\d{6}Z$/);
      assert.equal(await readFile(join(dir, backups[0]!), 'utf8'), original, 'the backup is the old file');
      assert.match(run.stdout, new RegExp(`^wrote ${path}: registry-mirrors http://127\\.0\\.0\\.1:5000 \\(previous file saved as ${join(dir, backups[0]!)}\\)$`, 'm'));
      assert.match(run.stdout, /restart dockerd to apply it: sudo systemctl restart docker/);

      const before = await readFile(path, 'utf8');
      const again = await runShoal(['setup', 'docker', '--write', '--docker-config', path]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /already has http:\/\/127\.0\.0\.1:5000 in registry-mirrors; nothing written/);
      assert.equal(await readFile(path, 'utf8'), before);
      assert.equal((await readdir(dir)).filter((name) => name.startsWith('daemon.json.shoal-backup-')).length, 1, 'no second backup');
    });

    test('without --write it prints the merged file and writes nothing', async () => {
      const path = join(dir, 'print.json');
      await writeFile(path, '{"debug": true}\n');
      const run = await runShoal(['setup', 'docker', '--docker-config', path, '--listen', '127.0.0.1:5050']);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), { debug: true, 'registry-mirrors': ['http://127.0.0.1:5050'] });
      assert.ok(run.stderr.includes(`sudo npx shoal setup docker --listen 127.0.0.1:5050 --docker-config ${path} --write`), run.stderr);
      assert.equal(await readFile(path, 'utf8'), '{"debug": true}\n');
    });

    test('item 14: the suggested apply command repeats the flags given (and the listen address sudo would lose from the environment)', async () => {
      const path = join(dir, 'item14 daemon.json');
      const run = await runShoal(['setup', 'docker', '--listen', '127.0.0.1:5777', '--docker-config', path]);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(run.stderr.includes(`Apply it with: sudo npx shoal setup docker --listen 127.0.0.1:5777 --docker-config '${path}' --write`), run.stderr);
      const fromEnv = await runShoal(['setup', 'docker', '--docker-config', path], { env: { SHOAL_LISTEN: '127.0.0.1:5888' } });
      assert.ok(fromEnv.stderr.includes(`sudo npx shoal setup docker --listen 127.0.0.1:5888 --docker-config '${path}' --write`), fromEnv.stderr);
    });

    test('creates daemon.json when there is none (no backup)', async () => {
      const sub = join(dir, 'fresh', 'docker');
      const path = join(sub, 'daemon.json');
      const run = await runShoal(['setup', 'docker', '--write', '--docker-config', path]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { 'registry-mirrors': ['http://127.0.0.1:5000'] });
      assert.deepEqual(await readdir(sub), ['daemon.json']);
    });

    test('refuses a daemon.json that is not JSON and leaves it untouched', async () => {
      const path = join(dir, 'broken.json');
      const text = '{ "log-driver": "journald", }\n';
      await writeFile(path, text);
      for (const args of [['--write'], []]) {
        const run = await runShoal(['setup', 'docker', ...args, '--docker-config', path]);
        assert.equal(run.code, 1);
        assert.equal(run.stdout, '');
        assert.match(run.stderr, new RegExp(`^shoal: ${path} is not valid JSON \\(.+\\); refusing to edit it\\. Repair it by hand`));
        assert.equal(await readFile(path, 'utf8'), text);
      }
      assert.deepEqual((await readdir(dir)).filter((name) => name.startsWith('broken.json')), ['broken.json'], 'no backup, no temp file');
    });

    test('an unknown target is a usage error', async () => {
      const run = await runShoal(['setup', 'podman']);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /Allowed choices are docker, containerd/);
    });
  });

  describe('containerd', () => {
    test('--write puts a hosts.toml for each upstream and allowed registry, shoal first; idempotent; says to set config_path', async () => {
      const certs = join(dir, 'certs.d');
      const config = join(dir, 'config.toml');
      await writeFile(config, 'version = 2\n');
      const args = ['setup', 'containerd', '--write', '--containerd-dir', certs, '--containerd-config', config,
        '--upstream', 'http://192.168.64.150:5000', '--upstream', 'https://registry.example.com', '--allowed-registries', 'docker.io'];
      const run = await runShoal(args);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual((await readdir(certs)).sort(), ['192.168.64.150:5000', 'docker.io', 'registry.example.com']);
      const seedToml = await readFile(join(certs, '192.168.64.150:5000', 'hosts.toml'), 'utf8');
      assert.match(seedToml, /^server = "http:\/\/192\.168\.64\.150:5000"$/m);
      assert.match(seedToml, /^\[host\."http:\/\/127\.0\.0\.1:5000"\]\n {2}capabilities = \["pull", "resolve"\]$/m);
      assert.match(seedToml, /\?ns=192\.168\.64\.150:5000/);
      assert.match(await readFile(join(certs, 'docker.io', 'hosts.toml'), 'utf8'), /^server = "https:\/\/registry-1\.docker\.io"$/m);
      assert.match(await readFile(join(certs, 'registry.example.com', 'hosts.toml'), 'utf8'), /^server = "https:\/\/registry\.example\.com"$/m);
      assert.match(run.stdout, new RegExp(`${config} does not set config_path[^]*config_path = "${certs}"`));

      const again = await runShoal(args);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout.match(/unchanged/g)?.length, 3, again.stdout);
      assert.equal(await readFile(join(certs, '192.168.64.150:5000', 'hosts.toml'), 'utf8'), seedToml);

      await writeFile(config, `version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "${certs}"\n`);
      const configured = await runShoal(args);
      assert.doesNotMatch(configured.stdout, /config_path/);
    });

    test('adds shoal ahead of the hosts in someone else\'s hosts.toml, keeping the rest (with a backup)', async () => {
      const certs = join(dir, 'certs-own');
      const hostDir = join(certs, 'docker.io');
      await mkdir(hostDir, { recursive: true });
      const theirs = 'server = "https://registry-1.docker.io"\n\n[host."https://mirror.example.com"]\n  capabilities = ["pull"]\n';
      await writeFile(join(hostDir, 'hosts.toml'), theirs);
      const run = await runShoal(['setup', 'containerd', '--write', '--containerd-dir', certs, '--containerd-config', join(dir, 'none.toml'), '--allowed-registries', 'docker.io']);
      assert.equal(run.code, 0, run.stderr);
      const merged = await readFile(join(hostDir, 'hosts.toml'), 'utf8');
      assert.ok(merged.startsWith('server = "https://registry-1.docker.io"\n'), merged);
      assert.ok(merged.indexOf('[host."http://127.0.0.1:5000"]') < merged.indexOf('[host."https://mirror.example.com"]'), merged);
      assert.ok(merged.includes('[host."https://mirror.example.com"]\n  capabilities = ["pull"]\n'));
      const backups = (await readdir(hostDir)).filter((name) => name.startsWith('hosts.toml.shoal-backup-'));
      assert.equal(backups.length, 1);
      assert.equal(await readFile(join(hostDir, backups[0]!), 'utf8'), theirs);
      const again = await runShoal(['setup', 'containerd', '--write', '--containerd-dir', certs, '--containerd-config', join(dir, 'none.toml'), '--allowed-registries', 'docker.io']);
      assert.match(again.stdout, /unchanged/);
      assert.equal(await readFile(join(hostDir, 'hosts.toml'), 'utf8'), merged);
    });

    test('without --write it prints each file and writes nothing', async () => {
      const certs = join(dir, 'certs-print');
      const config = join(dir, 'none.toml');
      const run = await runShoal(['setup', 'containerd', '--containerd-dir', certs, '--containerd-config', config, '--upstream', 'http://10.0.0.5:5000']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^# ==> ${certs}/10\\.0\\.0\\.5:5000/hosts\\.toml <==$`, 'm'));
      assert.ok(run.stderr.includes(`apply with: sudo npx shoal setup containerd --upstream http://10.0.0.5:5000 --containerd-dir ${certs} --containerd-config ${config} --write`), `item 14: ${run.stderr}`);
      await assert.rejects(stat(certs));
    });

    test('item 2: hosts.toml only for configured upstreams and allowed registries (docker.io only when it is one of them)', async () => {
      const certs = join(dir, 'certs-item2');
      const run = await runShoal(['setup', 'containerd', '--write', '--containerd-dir', certs, '--containerd-config', join(dir, 'none.toml'), '--upstream', 'http://10.0.0.5:5000', '--allowed-registries', 'registry.example.com']);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual((await readdir(certs)).sort(), ['10.0.0.5:5000', 'registry.example.com']);
      assert.match(await readFile(join(certs, 'registry.example.com', 'hosts.toml'), 'utf8'), /^server = "https:\/\/registry\.example\.com"$/m);
      const none = await runShoal(['setup', 'containerd', '--containerd-dir', join(dir, 'certs-none'), '--containerd-config', join(dir, 'none.toml')]);
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stderr, /no upstream and no allowed registry/);
    });
  });
});
