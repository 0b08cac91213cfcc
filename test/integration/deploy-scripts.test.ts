// The deployment scripts: every shell script parses (`bash -n`), build-images.sh explains itself
// without root or docker, the image's healthcheck tells a healthy API from a broken one, and
// deploy/check-imports.mjs loads every module of this checkout.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

async function shellScripts(): Promise<string[]> {
  const found: string[] = [];
  for (const dir of ['deploy', 'test/compose']) {
    for (const entry of await readdir(`${repo}/${dir}`, { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.sh')) found.push(`${entry.parentPath}/${entry.name}`.slice(repo.length + 1));
    }
  }
  return found.sort();
}

describe('deployment scripts', () => {
  test('every shell script passes bash -n', async () => {
    const scripts = await shellScripts();
    for (const expected of ['deploy/build-images.sh', 'deploy/install.sh', 'deploy/compose-test.sh', 'test/compose/pull-through.sh']) {
      assert.ok(scripts.includes(expected), `${expected} exists`);
    }
    for (const script of scripts) {
      await run('bash', ['-n', `${repo}/${script}`]).catch((e: { stderr?: string }) => assert.fail(`bash -n ${script}: ${e.stderr}`));
    }
  });

  test('build-images.sh --help names every image, without root or docker', async () => {
    const { stdout } = await run('bash', [`${repo}/deploy/build-images.sh`, '--help']);
    for (const image of ['shoal/node:22', 'shoal/debian:bookworm', 'shoal/node:22-build', 'shoal/seed-registry:2.8', 'shoal/test-client:latest', 'shoal:latest']) {
      assert.ok(stdout.includes(image), image);
    }
    await assert.rejects(run('bash', [`${repo}/deploy/build-images.sh`, 'no-such-target']), /unknown target/);
  });

  test('install.sh --help answers without installing anything', async () => {
    const { stdout } = await run('bash', [`${repo}/deploy/install.sh`, '--help']);
    assert.match(stdout, /--root DIR/);
  });

  test('check-imports.mjs loads every module of this checkout', async () => {
    const { stdout } = await run(process.execPath, [`${repo}/deploy/check-imports.mjs`, repo], { timeout: 60_000 });
    assert.match(stdout, /check-imports: \d+ modules/);
  });
});

describe('deploy/docker-healthcheck.mjs', () => {
  let server: Server;
  let port: number;
  let status = 200;

  before(async () => {
    server = createServer((request, response) => {
      response.writeHead(request.url === '/v2/' ? status : 404, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const check = (listen: string) =>
    run(process.execPath, [`${repo}/deploy/docker-healthcheck.mjs`], { env: { ...process.env, SHOAL_LISTEN: listen }, timeout: 30_000 }).then(
      () => 0,
      (e: { code?: number }) => e.code ?? -1,
    );

  test('exits 0 when /v2/ answers 200, also for an any-address listener', async () => {
    status = 200;
    assert.equal(await check(`127.0.0.1:${port}`), 0);
    assert.equal(await check(`0.0.0.0:${port}`), 0);
  });

  test('exits 1 when /v2/ answers otherwise or nothing listens', async () => {
    status = 503;
    assert.equal(await check(`127.0.0.1:${port}`), 1);
    status = 200;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    assert.equal(await check(`127.0.0.1:${free}`), 1);
  });
});
