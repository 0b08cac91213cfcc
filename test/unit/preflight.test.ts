// npm test's preflight (scripts/preflight.ts) and the package list it shares with scripts/test-all.sh.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { INSTALL_COMMAND, TEST_ALL_SCRIPT, missingPackages, parseRequirements, problems, report, type Requirement } from '../../scripts/preflight.ts';

const PREFLIGHT = join(import.meta.dirname, '..', '..', 'scripts', 'preflight.ts');

const exec = (command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((done) => {
    execFile(command, args, { env, timeout: 60_000 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });

describe('test preflight', () => {
  let dir: string;
  const executable = async (name: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, '#!/bin/sh\n');
    await chmod(path, 0o755);
    return path;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-preflight-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test('reads the package list from test-all.sh: every package the suite uses, each with a program', async () => {
    const requirements = parseRequirements(await readFile(TEST_ALL_SCRIPT, 'utf8'));
    assert.deepEqual(requirements.map((r) => r.pkg).sort(),
      ['chromium', 'curl', 'docker-compose', 'docker-registry', 'docker.io', 'iproute2', 'openssl', 'skopeo', 'systemd']);
    const registry = requirements.find((r) => r.pkg === 'docker-registry')!;
    assert.deepEqual(registry, { pkg: 'docker-registry', programs: ['/usr/bin/docker-registry'], override: 'SHOAL_TEST_REGISTRY_BIN' });
    assert.equal(requirements.find((r) => r.pkg === 'docker-compose')!.programs.length, 3);
    assert.throws(() => parseRequirements('#!/bin/sh\n'), /no REQUIREMENTS='...' block/);
    assert.throws(() => parseRequirements("REQUIREMENTS='\nskopeo\n'\n"), /package skopeo names no program/);
  });

  test('a package is missing when none of its programs is executable, on PATH or at its path; an override replaces them', async () => {
    const skopeo = await executable('skopeo');
    await writeFile(join(dir, 'curl'), 'not executable');
    const composePlugin = await executable('compose-plugin');
    const requirements: Requirement[] = [
      { pkg: 'skopeo', programs: ['skopeo'], override: 'SKOPEO_BIN' },
      { pkg: 'curl', programs: ['curl'] },
      { pkg: 'docker-compose', programs: ['docker-compose', composePlugin] },
      { pkg: 'docker-registry', programs: [join(dir, 'docker-registry')], override: 'REGISTRY_BIN' },
    ];
    const missing = (env: NodeJS.ProcessEnv): string[] => missingPackages(requirements, env).map((r) => r.pkg);
    assert.deepEqual(missing({ PATH: dir }), ['curl', 'docker-registry']);
    assert.deepEqual(missing({ PATH: `/nonexistent:${dir}`, REGISTRY_BIN: skopeo }), ['curl']);
    assert.deepEqual(missing({ PATH: dir, SKOPEO_BIN: join(dir, 'gone') }), ['skopeo', 'curl', 'docker-registry']);
    assert.deepEqual(missing({}), ['skopeo', 'curl', 'docker-registry']);
  });

  test('dockerd is asked only when the docker CLI is there; root is required', async () => {
    const requirements: Requirement[] = [{ pkg: 'docker.io', programs: ['docker'] }];
    let asked = 0;
    const dockerAnswers = (answer: boolean) => async (): Promise<boolean> => {
      asked++;
      return answer;
    };
    assert.deepEqual(await problems(requirements, { env: { PATH: '' }, uid: 0, dockerAnswers: dockerAnswers(false) }), ['docker (Debian package docker.io)']);
    assert.equal(asked, 0);
    await executable('docker');
    const found = await problems(requirements, { env: { PATH: dir }, uid: 1000, dockerAnswers: dockerAnswers(false) });
    assert.equal(asked, 1);
    assert.equal(found.length, 2);
    assert.match(found[0]!, /^a docker daemon this user can reach/);
    assert.match(found[1]!, /^root /);
    assert.deepEqual(await problems(requirements, { env: { PATH: dir }, uid: 0, dockerAnswers: dockerAnswers(true) }), []);
  });

  test('the report lists each missing part and the one command that installs them', () => {
    const text = report(['skopeo (Debian package skopeo)', 'a docker daemon']);
    const lines = text.split('\n');
    assert.deepEqual(lines.slice(1, 3), ['  - skopeo (Debian package skopeo)', '  - a docker daemon']);
    assert.ok(lines[3]!.endsWith(`: ${INSTALL_COMMAND}`), lines[3]);
    assert.match(lines[4]!, /npm run test:fast/);
  });

  test('as a program: a missing part stops it with exit 1 and the report; test-all.sh --check would install the same package', async () => {
    const env = { ...process.env, SHOAL_TEST_SKOPEO_BIN: join(dir, 'no-skopeo') };
    const run = await exec(process.execPath, [PREFLIGHT], env);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^npm test stops here/);
    assert.match(run.stderr, /^ {2}- skopeo \(Debian package skopeo\)$/m);
    assert.ok(run.stderr.split('\n').length < 16, run.stderr);

    const check = await exec('bash', [TEST_ALL_SCRIPT, '--check'], env);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /^test-all: would install: (\S+ )*skopeo( |$)/m);
  });
});
