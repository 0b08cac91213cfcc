import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { imageId, importRandomImage, removeImages, requireDocker } from '../helpers/docker.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';
import { runShoal } from './cli-run.ts';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The docker CLI with its own config directory (DOCKER_CONFIG), so `docker login` never touches
 * the real user's ~/.docker/config.json.
 */
function dockerIn(configDir: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { env: { ...process.env, DOCKER_CONFIG: configDir }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

async function fileText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

// Real dockerd against shoal with an htpasswd file: docker login, push, anonymous pull on loopback.
describe('docker login, push and pull against shoal with an htpasswd file', () => {
  let root: string;
  let configDir: string;
  let htpasswd: string;
  let open: ShoalProcess;
  let closed: ShoalProcess;
  const userConfig = join(homedir(), '.docker', 'config.json');
  let userConfigBefore: string | undefined;
  const tags: string[] = [];

  before(async () => {
    await requireDocker();
    userConfigBefore = await fileText(userConfig);
    root = await mkdtemp(join(tmpdir(), 'shoal-auth-docker-'));
    configDir = join(root, 'docker-config');
    await mkdir(configDir);
    htpasswd = join(root, 'htpasswd');
    await writeFile(htpasswd, `alice:${bcrypt.hashSync('wonderland', 10)}\n`);
    open = await startShoal({ args: ['--htpasswd', htpasswd] });
    closed = await startShoal({ args: ['--htpasswd', htpasswd, '--anonymous-pull', 'none'] });
  });

  after(async () => {
    await removeImages(...tags);
    await open?.dispose();
    await closed?.dispose();
    await rm(root, { recursive: true, force: true });
  });

  test('push without a login is refused; a wrong password fails docker login; the right one succeeds', async () => {
    const source = await importRandomImage(`shoal-auth-src:${Date.now()}`, { 'a.bin': 1_500_000 });
    const ref = `localhost:${open.port}/team/app:1`;
    tags.push(source, ref);
    assert.equal((await dockerIn(configDir, ['tag', source, ref])).code, 0);
    const anonymousPush = await dockerIn(configDir, ['push', ref]);
    assert.notEqual(anonymousPush.code, 0, 'an anonymous push must fail');
    assert.match(anonymousPush.stderr + anonymousPush.stdout, /unauthorized|authentication required|needs a login/i);

    const wrong = await dockerIn(configDir, ['login', `localhost:${open.port}`, '--username', 'alice', '--password-stdin'], 'not-it\n');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /unauthorized|wrong user name or password/i);

    const login = await dockerIn(configDir, ['login', `localhost:${open.port}`, '--username', 'alice', '--password-stdin'], 'wonderland\n');
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const saved = JSON.parse((await fileText(join(configDir, 'config.json')))!) as { auths: Record<string, unknown> };
    assert.ok(saved.auths[`localhost:${open.port}`], 'credentials saved in the temp DOCKER_CONFIG');
  });

  test('docker push after the login; after logout, an anonymous docker pull on loopback gets the same image', async () => {
    const ref = `localhost:${open.port}/team/app:1`;
    const id = await imageId(ref);
    const push = await dockerIn(configDir, ['push', ref]);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, /1: digest: sha256:[0-9a-f]{64}/);
    assert.equal((await dockerIn(configDir, ['logout', `localhost:${open.port}`])).code, 0);
    await removeImages(ref, ...tags.filter((t) => t.startsWith('shoal-auth-src')));
    const pull = await dockerIn(configDir, ['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(await imageId(ref), id, 'the pulled image is the pushed one');
    const logs = open.logs();
    assert.ok(logs.some((line) => line.msg === 'manifest pushed'));
  });

  test('with anonymous-pull none (Basic challenge, as registry:2): login, push and pull work; without a login the pull is refused', async () => {
    const source = await importRandomImage(`shoal-auth-closed:${Date.now()}`, { 'b.bin': 500_000 });
    const ref = `localhost:${closed.port}/team/closed:1`;
    tags.push(source, ref);
    await dockerIn(configDir, ['tag', source, ref]);
    const login = await dockerIn(configDir, ['login', `localhost:${closed.port}`, '--username', 'alice', '--password-stdin'], 'wonderland\n');
    assert.equal(login.code, 0, login.stderr);
    const push = await dockerIn(configDir, ['push', ref]);
    assert.equal(push.code, 0, push.stderr);
    const id = await imageId(ref);
    await removeImages(ref, source);
    const pull = await dockerIn(configDir, ['pull', ref]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(await imageId(ref), id);
    // The operator commands use that login too (they answered 401 whatever the operator did).
    const listen = ['--listen', `127.0.0.1:${closed.port}`];
    const asOperator = { env: { DOCKER_CONFIG: configDir } };
    const status = await runShoal(['status', ...listen], asOperator);
    assert.equal(status.code, 0, status.stderr);
    const prefetched = await runShoal(['prefetch', ...listen, 'team/closed:1'], asOperator);
    assert.equal(prefetched.code, 0, prefetched.stderr);
    await dockerIn(configDir, ['logout', `localhost:${closed.port}`]);
    const loggedOut = await runShoal(['status', ...listen], asOperator);
    assert.equal(loggedOut.code, 1);
    assert.match(loggedOut.stderr, /401/);
    const doctor = await runShoal(['doctor', ...listen], asOperator);
    assert.match(doctor.stdout, /fail +daemon +.*401.*; fix: the node needs a login: docker login 127\.0\.0\.1:\d+/);
    await removeImages(ref);
    const anonymous = await dockerIn(configDir, ['pull', ref]);
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr, /no basic auth credentials|unauthorized/i);
  });

  test('the real user\'s docker config was not touched', async () => {
    assert.equal(await fileText(userConfig), userConfigBefore);
    await access(join(configDir, 'config.json'));
  });
});
