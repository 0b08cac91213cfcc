import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { REDACTED, renderConfigYaml } from '../../src/config/render.ts';
import { SETTING_IDS, SETTINGS, renderConfigReference, type Setting } from '../../src/config/schema.ts';
import { optionFor } from '../../src/cli/options.ts';
import { generateClusterKey } from '../../src/swarm/cluster-key.ts';

describe('settings table', () => {
  it('keys each setting by the attribute commander gives its flag, so flags reach the loader', () => {
    for (const id of SETTING_IDS) assert.equal(optionFor(SETTINGS[id]).attributeName(), id);
  });

  it('uses distinct names, flags, env vars and YAML paths', () => {
    const all: Setting<unknown>[] = SETTING_IDS.map((id) => SETTINGS[id]);
    for (const field of ['name', 'flag', 'env'] as const) {
      assert.equal(new Set(all.map((setting) => setting[field])).size, all.length, field);
    }
    const paths = all.flatMap((setting) => setting.yaml);
    assert.equal(new Set(paths).size, paths.length);
    for (const setting of all) assert.match(setting.env, /^SHOAL_[A-Z0-9_]+$/);
  });

  it('renderConfigReference mentions every setting with flag, env, YAML key and default', () => {
    const reference = renderConfigReference();
    const rows = reference.split('\n').filter((line) => line.startsWith('| `'));
    assert.equal(rows.length, SETTING_IDS.length);
    for (const id of SETTING_IDS) {
      const setting: Setting<unknown> = SETTINGS[id];
      const row = rows.find((line) => line.startsWith(`| \`${setting.name}\` |`));
      assert.ok(row, `row for ${setting.name}`);
      for (const text of [setting.flag, setting.env, ...setting.yaml, setting.defaultText, setting.description]) {
        assert.ok(row.includes(text), `${setting.name} row mentions ${text}`);
      }
    }
    assert.match(reference, /flag wins over the environment, which wins over the config file, which wins over the default/);
  });
});

describe('renderConfigYaml', () => {
  it('redacts passwords and loads back to the same config when secrets are shown', async () => {
    const root = await mkdtemp(join(tmpdir(), 'shoal-render-'));
    try {
      await writeFile(join(root, 'docker.json'), '{}');
      await writeFile(join(root, 'cluster.key'), generateClusterKey());
      const peer = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA';
      const config = await loadConfig({
        argvOptions: {
          listen: '[::1]:5003', upstream: ['http://a:5000', 'https://b'], upstreamUsername: 'u', upstreamPassword: 'hunter2',
          tagTimeout: '1m30s', maxUploadSize: '10GiB', logLevel: 'trace', dockerConfig: join(root, 'docker.json'),
          mdns: false, p2pPort: '0', bindAddress: '::', advertiseAddress: 'fd00::5', clusterKey: join(root, 'cluster.key'),
          bootstrap: [`/ip4/10.0.0.5/tcp/5001/p2p/${peer}`, `/dns6/seed.lan/tcp/5001/p2p/${peer}`],
        },
        env: {}, cwd: root, homedir: root,
      });
      const redacted = renderConfigYaml(config);
      assert.ok(!redacted.includes('hunter2'));
      assert.ok(redacted.includes(`password: ${REDACTED}`));
      assert.match(redacted, /addr: "?\[::1\]:5003"?/);
      assert.ok(!redacted.includes(await readFile(join(root, 'cluster.key'), 'utf8')), 'the key file\'s path, never its contents');
      assert.match(redacted, /maxuploadsize: 10GiB/);

      const path = join(root, 'exported.yml');
      await writeFile(path, renderConfigYaml(config, { showSecrets: true }));
      assert.deepEqual(await loadConfig({ argvOptions: { config: path }, env: {}, cwd: '/', homedir: root }), config);
      const off = await loadConfig({ argvOptions: { swarm: false }, env: {}, cwd: root, homedir: root });
      await writeFile(path, renderConfigYaml(off));
      assert.deepEqual(await loadConfig({ argvOptions: { config: path }, env: {}, cwd: '/', homedir: root }), off);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
