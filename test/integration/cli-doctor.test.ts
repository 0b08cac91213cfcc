// `shoal doctor` as a real process against real daemons and docker-registry seeds.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateClusterKey } from '../../src/swarm/index.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePort, startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';
import { CONTROL_CODES, runShoal, type Run } from './cli-run.ts';

const LEVEL_LINE = /^(ok|warn|fail) {2,}(\S+(?: \S+)?) {2,}(.*)$/;

/** The check lines by name (a name may repeat, e.g. several upstreams). */
function checks(run: Run): Array<{ level: string; name: string; text: string }> {
  return run.stdout.split('\n').flatMap((line) => {
    const match = LEVEL_LINE.exec(line);
    return match ? [{ level: match[1]!, name: match[2]!, text: match[3]! }] : [];
  });
}

function check(run: Run, name: string): { level: string; text: string } {
  const found = checks(run).find((c) => c.name === name);
  assert.ok(found, `a "${name}" line in:\n${run.stdout}`);
  return { level: found.level, text: found.text };
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('shoal doctor', () => {
  let dir: string;
  let daemonJson: string;
  let seed: SeedRegistry;
  let node: ShoalProcess;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-doctor-'));
    daemonJson = join(dir, 'daemon.json');
    seed = await startSeedRegistry();
    node = await startShoal({ upstreams: [seed.url] });
  });

  after(async () => {
    await node?.dispose();
    await seed?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a running daemon with a reachable seed: every check listed, swarm ones warn with --no-swarm, exit 0', async () => {
    const run = await runShoal(['doctor', '--listen', node.host, '--docker-config', daemonJson]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.doesNotMatch(run.stdout, CONTROL_CODES);
    assert.deepEqual(checks(run).map((c) => c.name), ['daemon', 'data dir', 'upstream', 'mdns', 'peers', 'p2p port', 'docker', 'clock']);
    assert.match(check(run, 'daemon').text, new RegExp(`^shoal \\S+ answers at http://${escape(node.host)}$`));
    assert.equal(check(run, 'daemon').level, 'ok');
    assert.equal(check(run, 'data dir').level, 'ok');
    assert.match(check(run, 'data dir').text, new RegExp(`^${escape(node.dataDir)} is writable`));
    assert.deepEqual(check(run, 'upstream'), { level: 'ok', text: `${seed.url} reachable, no login needed` });
    for (const name of ['mdns', 'peers', 'p2p port']) {
      assert.equal(check(run, name).level, 'warn', name);
      assert.match(check(run, name).text, /swarm is off/);
    }
    assert.equal(check(run, 'docker').level, 'ok');
    assert.match(run.stdout.trimEnd().split('\n').at(-1)!, /^no problems that stop shoal; 3 warnings$/);
  });

  test('--json lists the same checks', async () => {
    const run = await runShoal(['doctor', '--json', '--listen', node.host, '--docker-config', daemonJson]);
    assert.equal(run.code, 0, run.stderr);
    const parsed = JSON.parse(run.stdout) as { ok: boolean; checks: Array<{ name: string; level: string; fix?: string }> };
    assert.equal(parsed.ok, true);
    assert.ok(parsed.checks.find((c) => c.name === 'peers')?.fix);
  });

  test('docker\'s daemon.json: shoal as a mirror is ok; a file that is not JSON fails', async () => {
    await writeFile(daemonJson, JSON.stringify({ 'log-driver': 'journald', 'registry-mirrors': [`http://localhost:${node.port}`] }));
    const mirrored = await runShoal(['doctor', '--listen', node.host, '--docker-config', daemonJson]);
    assert.deepEqual(check(mirrored, 'docker'), { level: 'ok', text: `${daemonJson} has http://localhost:${node.port} in registry-mirrors: docker.io pulls go through shoal (restart dockerd after changing it)` });

    await writeFile(daemonJson, '{ "registry-mirrors": [ }');
    const broken = await runShoal(['doctor', '--listen', node.host, '--docker-config', daemonJson]);
    assert.equal(broken.code, 1);
    assert.equal(check(broken, 'docker').level, 'fail');
    assert.match(check(broken, 'docker').text, /is not valid JSON .*dockerd will not start with it; fix: repair /);
    await rm(daemonJson);
  });

  test('daemon down: the daemon check fails with the hint, the seed is still checked from the config', async () => {
    const run = await runShoal(['doctor', '--listen', `127.0.0.1:${await freePort()}`, '--docker-config', daemonJson], { env: { SHOAL_UPSTREAM: seed.url } });
    assert.equal(run.code, 1);
    assert.equal(check(run, 'daemon').level, 'fail');
    assert.match(check(run, 'daemon').text, /\(ECONNREFUSED\); fix: is shoal running\? start it with npm start \/ systemctl start shoal/);
    assert.equal(check(run, 'upstream').level, 'ok');
    assert.ok(!checks(run).some((c) => c.name === 'peers'), 'no swarm checks without a daemon to ask');
  });

  describe('upstream logins', () => {
    let guarded: SeedRegistry;
    let guardedNode: ShoalProcess;
    const auth = { username: 'mirror', password: 's3cret' };

    before(async () => {
      guarded = await startSeedRegistry({ auth: { htpasswd: auth } });
      guardedNode = await startShoal({ upstreams: [guarded.url], args: ['--upstream-username', auth.username, '--upstream-password', auth.password] });
    });
    after(async () => {
      await guardedNode?.dispose();
      await guarded?.stop();
    });

    test('checks the configured credentials against the seed', async () => {
      const env = { SHOAL_UPSTREAM: guarded.url, SHOAL_UPSTREAM_USERNAME: auth.username };
      const good = await runShoal(['doctor', '--listen', guardedNode.host, '--docker-config', daemonJson], { env: { ...env, SHOAL_UPSTREAM_PASSWORD: auth.password } });
      assert.deepEqual(check(good, 'upstream'), { level: 'ok', text: `${guarded.url} reachable, user mirror logged in (basic auth)` });
      assert.equal(good.code, 0, good.stdout);

      const bad = await runShoal(['doctor', '--listen', guardedNode.host, '--docker-config', daemonJson], { env: { ...env, SHOAL_UPSTREAM_PASSWORD: 'wrong' } });
      assert.equal(bad.code, 1);
      assert.equal(check(bad, 'upstream').level, 'fail');
      assert.match(check(bad, 'upstream').text, /rejected the credentials of user mirror \(401\); fix: check the user name and password/);
      assert.ok(!(bad.stdout + bad.stderr).includes('wrong'), 'the password is never printed');

      const none = await runShoal(['doctor', '--listen', guardedNode.host, '--docker-config', daemonJson]);
      assert.equal(check(none, 'upstream').level, 'warn');
      assert.match(check(none, 'upstream').text, /wants a login and no credentials are configured for it here; fix: /);
    });

    test('a docker credential helper that is not installed: a warning naming it and what to do; the seed is checked as anonymous', async () => {
      const dockerConfig = join(dir, 'config.json');
      await writeFile(dockerConfig, JSON.stringify({ auths: { [new URL(guarded.url).host]: {} }, credsStore: 'shoal-absent' }));
      const run = await runShoal(['doctor', '--listen', guardedNode.host, '--docker-config', daemonJson], { env: { SHOAL_UPSTREAM: guarded.url, SHOAL_DOCKER_CONFIG: dockerConfig } });
      const upstream = checks(run).filter((c) => c.name === 'upstream');
      assert.ok(upstream.some((c) => c.level === 'warn' && /wants a login and no credentials are configured for it here/.test(c.text)), run.stdout);
      assert.ok(upstream.some((c) => c.level === 'warn' && c.text.startsWith('docker credential helper docker-credential-shoal-absent (credsStore) could not list its registries: not installed') && c.text.includes(`(${dockerConfig}); fix: install that helper on this host`)), run.stdout);
    });
  });

  describe('with the swarm on', () => {
    let swarmNode: ShoalProcess;
    const lanAddress = Object.values(networkInterfaces()).flat().find((i) => i?.family === 'IPv4' && !i.internal)?.address;

    before(async () => {
      // No mDNS (nothing multicast leaves the machine); every interface, so the node has a LAN address to check.
      swarmNode = await startShoal({ upstreams: [seed.url], swarm: true, args: ['--p2p-port', '0', '--peer-port', '0', '--no-mdns'] });
    });
    after(async () => {
      await swarmNode?.dispose();
    });

    test('mDNS off is fine, no peers warns, the p2p and peer ports accept connections', async () => {
      assert.ok(lanAddress !== undefined, 'this test needs a non-loopback IPv4 interface (CI machines have eth0)');
      const run = await runShoal(['doctor', '--listen', swarmNode.host, '--docker-config', daemonJson]);
      assert.equal(run.code, 0, run.stdout);
      assert.deepEqual(check(run, 'mdns'), { level: 'ok', text: 'mDNS is off (--no-mdns): peers come only from --bootstrap' });
      assert.equal(check(run, 'peers').level, 'warn');
      assert.match(check(run, 'peers').text, /^no peers found; fix: run shoal on the other hosts/);
      assert.equal(check(run, 'p2p port').level, 'ok');
      assert.match(check(run, 'p2p port').text, new RegExp(`p2p ${escape(lanAddress!)}:\\d+.*peer ${escape(lanAddress!)}:\\d+ accept connections`));
      assert.deepEqual(check(run, 'clock'), { level: 'ok', text: 'no peers to compare clocks with' });
      // An open swarm says so (issue 10, item 5).
      assert.equal(check(run, 'cluster key').level, 'warn');
      assert.match(check(run, 'cluster key').text, /^none: the swarm is open; any host on the LAN can join.*fetch every blob.*; fix: npx shoal keygen/);
    });

    test('a peer with another --piece-size: peers warns (they trade no pieces), and both logs say so', async () => {
      const status = (await (await fetch(`${swarmNode.url}/_shoal/status`)).json()) as { node: { multiaddrs: string[] } };
      const other = await startShoal({ upstreams: [seed.url], swarm: true, args: ['--p2p-port', '0', '--peer-port', '0', '--no-mdns', '--piece-size', '1MiB', '--bootstrap', status.node.multiaddrs[0]!] });
      try {
        await eventually(async () => ((await (await fetch(`${swarmNode.url}/_shoal/status`)).json()) as { peers: unknown[] }).peers.length === 1, 30_000, 'the two nodes to meet');
        const run = await runShoal(['doctor', '--listen', swarmNode.host, '--docker-config', daemonJson]);
        assert.equal(check(run, 'peers').level, 'warn', run.stdout);
        assert.match(check(run, 'peers').text, /^1 of 1 peers use another piece size than this node's 4MiB \(\S+ 1MiB\): no pieces are traded with them.*; fix: give every host the same --piece-size/);
        await eventually(() => other.logs().some((line) => line['msg'] === 'peer uses another piece size: no pieces are traded with it, blobs come from the seed instead; give every host the same --piece-size'), 10_000, 'the warning in the other node\'s log');
      } finally {
        await other.dispose();
      }
    });
  });

  test('a node whose cluster key the others lack: peers warns that the found host fails the handshake, and its log says what to check', async () => {
    const keyFile = join(dir, 'cluster.key');
    await writeFile(keyFile, generateClusterKey());
    const open = await startShoal({ upstreams: [seed.url], swarm: true, args: ['--p2p-port', '0', '--peer-port', '0', '--no-mdns'] });
    try {
      const status = (await (await fetch(`${open.url}/_shoal/status`)).json()) as { node: { multiaddrs: string[] } };
      const keyed = await startShoal({ upstreams: [seed.url], swarm: true, args: ['--p2p-port', '0', '--peer-port', '0', '--no-mdns', '--cluster-key', keyFile, '--bootstrap', status.node.multiaddrs[0]!] });
      try {
        // Its first dial at start, then the bootstrap redial (every 10 s): two handshake failures in a
        // row, each a reset or a dial timeout (the keyless side reading the nonce as a long message).
        await eventually(() => keyed.logs().some((line) => String(line['msg']).startsWith('cannot join a peer: its connections fail in the handshake')), 40_000, 'the warning in the keyed node\'s log')
          .catch((error: Error) => { throw new Error(`${error.message}; its failed dials: ${JSON.stringify(keyed.logs().filter((line) => line['msg'] === 'swarm: dial failed'))}`); });
        const run = await runShoal(['doctor', '--listen', keyed.host, '--docker-config', daemonJson]);
        assert.equal(check(run, 'peers').level, 'warn', run.stdout);
        assert.match(check(run, 'peers').text, new RegExp(`^no peers: 1 host was found but its connections fail in the handshake \\(${escape(status.node.multiaddrs[0]!.replace(/\/p2p\/.*$/, ''))}.*\\): they run with another cluster key, or none; fix: give every host the same --cluster-key file`));
        const warning = keyed.logs().find((line) => String(line['msg']).startsWith('cannot join a peer'))!;
        assert.match(String(warning['msg']), /another cluster key, or none: every host of a swarm needs the same --cluster-key file/);
      } finally {
        await keyed.dispose();
      }
    } finally {
      await open.dispose();
    }
  });

  // Last: it stops the seed.
  test('with the seed stopped, the upstream check fails and says what to do', async () => {
    await seed.stop();
    const run = await runShoal(['doctor', '--listen', node.host, '--docker-config', daemonJson]);
    assert.equal(run.code, 1);
    const upstream = check(run, 'upstream');
    assert.equal(upstream.level, 'fail');
    assert.equal(upstream.text, `${seed.url} is not reachable (ECONNREFUSED); fix: start the seed registry at ${seed.url}, or correct --upstream`);
    assert.match(run.stdout.trimEnd().split('\n').at(-1)!, /^1 check failed; 3 warnings$/);
  });
});

describe('a CLI whose reader closed the pipe', () => {
  test('ends quietly (exit 141, as SIGPIPE ends a C tool), without an unhandled EPIPE and its stack', async () => {
    const { execFile } = await import('node:child_process');
    const { NODE, SHOAL } = await import('./cli-run.ts');
    // `true` exits at once: doctor's report is written to a pipe nobody reads.
    const script = `"${NODE}" "${SHOAL}" doctor --listen 127.0.0.1:${await freePort()} | true; echo "rc=\${PIPESTATUS[0]}" >&2`;
    const stderr = await new Promise<string>((resolve) => execFile('bash', ['-c', script], { timeout: 60_000 }, (_error, _stdout, err) => resolve(err)));
    assert.doesNotMatch(stderr, /EPIPE|Unhandled/, stderr);
    assert.match(stderr, /rc=141/);
  });
});
