// scripts/test-all.sh (npm run test:all, CI's test command) around stand-ins for dockerd, the docker
// CLI and npm, so its start/stop logic runs without touching this machine's docker or the suite.
// Needs root (the script re-runs itself with sudo otherwise) and the real parts npm test needs.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_ALL_SCRIPT } from '../../scripts/preflight.ts';
import { eventually } from '../helpers/eventually.ts';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

describe('scripts/test-all.sh', () => {
  let dir: string;
  let bin: string;
  let state: string;
  let decoy: ChildProcess;

  const runScript = (npmExit: number): Promise<{ code: number; out: string }> => new Promise((done) => {
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_STATE: state, FAKE_NPM_EXIT: String(npmExit) };
    execFile('bash', [TEST_ALL_SCRIPT], { env, timeout: 120_000 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out: stdout + stderr });
    });
  });

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'test-all.sh runs as root (it asks sudo otherwise): run the suite as root, as npm run test:all does');
    dir = await mkdtemp(join(tmpdir(), 'shoal-test-all-'));
    bin = join(dir, 'bin');
    state = join(dir, 'state');
    await mkdir(bin);
    await mkdir(state);
    const script = async (name: string, text: string): Promise<void> => {
      await writeFile(join(bin, name), `#!/bin/bash\n${text}\n`);
      await chmod(join(bin, name), 0o755);
    };
    await script('docker', '[ -e "$FAKE_STATE/up" ]');
    await script('dockerd', [
      'echo "$*" > "$FAKE_STATE/dockerd-args"',
      'touch "$FAKE_STATE/up"',
      "trap 'rm -f \"$FAKE_STATE/up\"; exit 0' TERM",
      'while :; do sleep 0.2; done',
    ].join('\n'));
    await script('npm', [
      '[ -e "$FAKE_STATE/up" ] && echo "docker up while npm $*" >> "$FAKE_STATE/npm-runs"',
      'printf "TAP version 13\\n# Subtest: a\\nok 1 - a\\n  # pass 99\\n# tests 3\\n# pass 2\\n# fail 1\\n" > "$SHOAL_TEST_TAP"',
      'if [ -n "$FAKE_NPM_HANG" ]; then sleep 600; fi',
      'exit "$FAKE_NPM_EXIT"',
    ].join('\n'));
    // Another process named dockerd, which the script did not start and must leave running.
    const decoyDir = join(dir, 'decoy');
    await mkdir(decoyDir);
    await copyFile('/bin/sleep', join(decoyDir, 'dockerd'));
    await chmod(join(decoyDir, 'dockerd'), 0o755);
    decoy = spawn(join(decoyDir, 'dockerd'), ['600'], { stdio: 'ignore' });
  });

  after(async () => {
    decoy?.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('no docker daemon: starts dockerd, runs npm test, prints the TAP summary, stops only its dockerd, exits with npm test\'s code', async () => {
    const run = await runScript(1);
    assert.equal(run.code, 1, run.out);
    assert.match(run.out, /^test-all: nothing to install$/m);
    const started = /^test-all: starting dockerd --storage-driver=vfs \(log: (\S+)\/dockerd\.log\)$/m.exec(run.out);
    assert.ok(started, run.out);
    const stopped = /^test-all: stopping the dockerd it started \(pid (\d+)\)$/m.exec(run.out);
    assert.ok(stopped, run.out);
    assert.match(run.out, /\n# tests 3\n# pass 2\n# fail 1\n$/, 'the summary closes the output, indented lines left out');
    assert.equal(await readFile(join(state, 'npm-runs'), 'utf8'), 'docker up while npm test\n');
    // Its run-time state in the run's own directory: a stale /var/run/docker from a restored
    // snapshot (containerd.pid naming another process) cannot stall it.
    const work = started[1]!;
    assert.equal(await readFile(join(state, 'dockerd-args'), 'utf8'), `--storage-driver=vfs --exec-root ${work}/docker-exec --pidfile ${work}/docker.pid\n`);
    assert.equal(alive(Number(stopped[1])), false, 'its dockerd is gone');
    assert.equal(await exists(join(state, 'up')), false);
    assert.equal(await exists(started[1]!), false, 'its temp dir is removed');
    assert.equal(decoy.exitCode, null, 'another dockerd is left running');
    assert.ok(alive(decoy.pid!));
  });

  test('Ctrl-C during the suite still stops the dockerd it started', async () => {
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_STATE: state, FAKE_NPM_EXIT: '0', FAKE_NPM_HANG: '1' };
    await rm(join(state, 'npm-runs'), { force: true });
    // Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
    const child = spawn('bash', [TEST_ALL_SCRIPT], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    await eventually(() => exists(join(state, 'npm-runs')), 60_000, 'npm test started');
    process.kill(-child.pid!, 'SIGINT');
    assert.equal(await exited, 130, out);
    const stopped = /^test-all: stopping the dockerd it started \(pid (\d+)\)$/m.exec(out);
    assert.ok(stopped, out);
    assert.equal(alive(Number(stopped[1])), false);
    assert.equal(await exists(join(state, 'up')), false);
    assert.ok(alive(decoy.pid!));
  });

  test('a second run with docker answering starts and stops nothing and passes npm test\'s success on', async () => {
    await writeFile(join(state, 'up'), '');
    const run = await runScript(0);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /^test-all: nothing to install\ntest-all: dockerd already answers\n/);
    assert.doesNotMatch(run.out, /starting|stopping/);
    assert.ok(await exists(join(state, 'up')), 'the running daemon is left alone');
    assert.ok(alive(decoy.pid!));
  });
});
