// The container deployment end to end, opt-in (SHOAL_DEPLOY_E2E=1): it builds every image with
// deploy/build-images.sh (debootstrap, npm ci and apt-get in the builds: several minutes, network
// to Debian's archive and the npm registry), then
//  - deploy/compose-test.sh: docker-compose.test.yml, a seed and three shoal nodes, the client
//    pulling through all three at once; the seed sends each blob once;
//  - deploy/systemd-test.sh: deploy/shoal.service under a real systemd in a container.
// CI checks the same files statically (deploy-compose, deploy-systemd, deploy-scripts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const enabled = process.env.SHOAL_DEPLOY_E2E === '1';
const options = { cwd: repo, timeout: 30 * 60_000, maxBuffer: 64 * 1024 * 1024 };

describe('deployment end to end', { skip: enabled ? false : 'set SHOAL_DEPLOY_E2E=1 (builds images: minutes, root, dockerd, network)' }, () => {
  test('docker-compose.test.yml: three nodes pull through one seed, which sends each blob once', { timeout: options.timeout }, async () => {
    const { stdout } = await run('bash', ['deploy/compose-test.sh'], options).catch((e: { stdout?: string; stderr?: string }) =>
      assert.fail(`compose-test.sh failed:\n${(e.stdout ?? '').slice(-6000)}\n${(e.stderr ?? '').slice(-6000)}`),
    );
    assert.match(stdout, /compose-test: PASS/);
  });

  test('deploy/shoal.service under systemd: hardened, restarts, drains', { timeout: options.timeout }, async () => {
    const { stdout } = await run('bash', ['deploy/systemd-test.sh'], options).catch((e: { stdout?: string; stderr?: string }) =>
      assert.fail(`systemd-test.sh failed:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`),
    );
    assert.match(stdout, /systemd-test: PASS/);
  });
});
