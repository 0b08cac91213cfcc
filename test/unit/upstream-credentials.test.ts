import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDockerCredentials, normalizeRegistryHost, parseDockerConfig } from '../../src/upstream/docker-credentials.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('docker config.json credentials', () => {
  test('normalizeRegistryHost: URL-style keys, case, Docker Hub aliases', () => {
    assert.equal(normalizeRegistryHost('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeRegistryHost('registry-1.docker.io'), 'docker.io');
    assert.equal(normalizeRegistryHost('http://192.168.64.150:5000/v1/'), '192.168.64.150:5000');
    assert.equal(normalizeRegistryHost('REGISTRY.Example.com'), 'registry.example.com');
    assert.equal(normalizeRegistryHost('localhost:5001'), 'localhost:5001');
  });

  test('auth (base64 user:password, password may contain colons) and username/password entries', () => {
    const creds = parseDockerConfig({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass') },
        'registry.example.com': { username: 'octo', password: 'tok' },
        'https://10.1.2.3:5000/v1/': { auth: b64('seed:pw') },
        'helper.example': {},
        'broken.example': { auth: b64('nocolon') },
      },
    });
    assert.deepEqual(creds.lookup('docker.io'), { username: 'hubuser', password: 'hub:pass' });
    assert.deepEqual(creds.lookup('registry-1.docker.io'), { username: 'hubuser', password: 'hub:pass' });
    assert.deepEqual(creds.lookup('index.docker.io'), { username: 'hubuser', password: 'hub:pass' });
    assert.deepEqual(creds.lookup('registry.example.com'), { username: 'octo', password: 'tok' });
    assert.deepEqual(creds.lookup('10.1.2.3:5000'), { username: 'seed', password: 'pw' });
    assert.equal(creds.lookup('10.1.2.3'), undefined, 'the port is part of the host');
    assert.equal(creds.lookup('helper.example'), undefined, 'an empty entry (its secret kept by a helper) gives nothing by itself');
    assert.equal(creds.lookup('broken.example'), undefined);
    assert.equal(creds.lookup('quay.io'), undefined);
  });

  test('a bare host key wins over a URL-style key for the same host, in either order', () => {
    for (const order of [0, 1]) {
      const entries: Array<[string, unknown]> = [
        ['https://reg.example/v1/', { auth: b64('old:1') }],
        ['reg.example', { auth: b64('new:2') }],
      ];
      if (order) entries.reverse();
      const creds = parseDockerConfig({ auths: Object.fromEntries(entries) });
      assert.deepEqual(creds.lookup('reg.example'), { username: 'new', password: '2' });
    }
  });

  test('configs without auths, or not objects, give nothing', () => {
    assert.deepEqual(parseDockerConfig({ credsStore: 'desktop' }).hosts, []);
    assert.deepEqual(parseDockerConfig(null).hosts, []);
    assert.deepEqual(parseDockerConfig({ auths: [] }).hosts, []);
  });

  describe('loadDockerCredentials', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'shoal-dockercfg-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    test('reads the file and remembers where from', async () => {
      const path = join(dir, 'config.json');
      await writeFile(path, JSON.stringify({ auths: { 'seed.lan:5000': { auth: b64('u:p') } } }));
      const creds = loadDockerCredentials(path);
      assert.deepEqual(creds.lookup('seed.lan:5000'), { username: 'u', password: 'p' });
      assert.equal(creds.source, path);
    });

    test('a missing file is no credentials; a broken one is an error naming it', async () => {
      assert.deepEqual(loadDockerCredentials(join(dir, 'absent.json')).hosts, []);
      assert.deepEqual(loadDockerCredentials(undefined).hosts, []);
      const path = join(dir, 'broken.json');
      await writeFile(path, '{ not json');
      assert.throws(() => loadDockerCredentials(path), new RegExp(`docker config ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not valid JSON`));
    });
  });
});
