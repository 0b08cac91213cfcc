import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OciError } from '../../src/oci/index.ts';
import { UpstreamSet, isLoopbackHost, remoteName } from '../../src/upstream/upstreams.ts';
import { parseDockerConfig } from '../../src/upstream/docker-credentials.ts';
import { MemoryUpstream } from '../../src/upstream/memory-upstream.ts';
import { nextLink, type RegistryClientInit } from '../../src/upstream/registry-client.ts';
import type { UpstreamRegistry } from '../../src/upstream/types.ts';

/** A client that records how it was made and never touches the network. */
function recordingFactory() {
  const made: RegistryClientInit[] = [];
  const createClient = (init: RegistryClientInit): UpstreamRegistry => {
    made.push(init);
    return new MemoryUpstream(init.url);
  };
  return { made, createClient };
}

const pairs = (set: UpstreamSet, name: string, ns?: string) => set.targets(name, ns).map((t) => [t.upstream.url, t.remoteName]);

describe('UpstreamSet.targets', () => {
  const seed = { url: 'http://192.168.64.150:5000' };
  const hub = { url: 'https://registry-1.docker.io' };

  test('plain names go to every configured upstream in order; Docker Hub adds library/ to one-component names', () => {
    const set = new UpstreamSet([seed, hub], { createClient: recordingFactory().createClient });
    assert.deepEqual(pairs(set, 'nginx'), [
      ['http://192.168.64.150:5000', 'nginx'],
      ['https://registry-1.docker.io', 'library/nginx'],
    ]);
    assert.deepEqual(pairs(set, 'team/app'), [
      ['http://192.168.64.150:5000', 'team/app'],
      ['https://registry-1.docker.io', 'team/app'],
    ]);
  });

  test('library/<name> (what docker asks its registry mirror for `nginx`) is tried as asked, then as <name> on a registry that is not Docker Hub', () => {
    const set = new UpstreamSet([seed, hub], { createClient: recordingFactory().createClient });
    assert.deepEqual(pairs(set, 'library/nginx'), [
      ['http://192.168.64.150:5000', 'library/nginx'],
      ['http://192.168.64.150:5000', 'nginx'],
      ['https://registry-1.docker.io', 'library/nginx'],
    ]);
    assert.deepEqual(pairs(set, 'library/team/app'), [
      ['http://192.168.64.150:5000', 'library/team/app'],
      ['https://registry-1.docker.io', 'library/team/app'],
    ]);
  });

  test('no upstreams: nothing to try for plain names', () => {
    assert.deepEqual(new UpstreamSet([], { createClient: recordingFactory().createClient }).targets('nginx'), []);
  });

  test('a name starting with a configured host goes to that upstream only, host stripped; the first upstream\'s host is its plain name', () => {
    const set = new UpstreamSet([seed, hub], { createClient: recordingFactory().createClient });
    assert.deepEqual(pairs(set, 'docker.io/nginx'), [['https://registry-1.docker.io', 'library/nginx']]);
    assert.deepEqual(pairs(set, 'index.docker.io/library/redis'), [['https://registry-1.docker.io', 'library/redis']]);
    assert.deepEqual(pairs(set, 'registry-1.docker.io/bitnami/redis'), [['https://registry-1.docker.io', 'bitnami/redis']]);
    assert.deepEqual(pairs(set, '192.168.64.150:5000/team/app'), pairs(set, 'team/app'));
    assert.equal(set.repository('192.168.64.150:5000/team/app'), 'team/app');
    assert.equal(set.repository('index.docker.io/library/redis'), 'docker.io/library/redis');
  });

  test('allowed registries get an ad-hoc client, made once: https, http for loopback, Docker Hub at registry-1', () => {
    const factory = recordingFactory();
    const allowedRegistries = ['registry.example.com', 'localhost:5001', 'localhost', '127.0.0.1:6000', 'build.lan:5000', 'docker.io'];
    const set = new UpstreamSet([seed], { createClient: factory.createClient, insecureRegistries: ['build.lan:5000'], allowedRegistries });
    const before = factory.made.length;
    const [other] = set.targets('registry.example.com/org/tool');
    assert.equal(other!.upstream.url, 'https://registry.example.com');
    assert.equal(other!.remoteName, 'org/tool');
    assert.equal(set.targets('registry.example.com/org/other')[0]!.upstream, other!.upstream, 'cached');
    assert.deepEqual(pairs(set, 'localhost:5001/x'), [['http://localhost:5001', 'x']]);
    assert.deepEqual(pairs(set, 'localhost/x'), [['http://localhost', 'x']]);
    assert.deepEqual(pairs(set, '127.0.0.1:6000/a/b'), [['http://127.0.0.1:6000', 'a/b']]);
    assert.deepEqual(pairs(set, 'build.lan:5000/a'), [['http://build.lan:5000', 'a']]);
    assert.deepEqual(pairs(set, 'docker.io/nginx'), [['https://registry-1.docker.io', 'library/nginx']]);
    assert.equal(factory.made.length - before, 6, "one client per distinct host");
  });

  test('item 2: a host neither configured nor allowed makes no client: in a name it is part of the repository, as ?ns= it is refused', () => {
    const factory = recordingFactory();
    const set = new UpstreamSet([seed], { createClient: factory.createClient });
    const before = factory.made.length;
    assert.deepEqual(pairs(set, 'team.a/app'), [['http://192.168.64.150:5000', 'team.a/app']]);
    assert.deepEqual(pairs(set, 'registry.example.com/org/tool'), [['http://192.168.64.150:5000', 'registry.example.com/org/tool']]);
    assert.throws(() => set.targets('x', '127.0.0.1:15919'), (e: unknown) => e instanceof OciError && e.code === 'NAME_UNKNOWN' && /allowed-registries/.test(e.message));
    assert.throws(() => set.targets('x', '../../etc'), (e: unknown) => e instanceof OciError && e.code === 'NAME_INVALID');
    assert.equal(new UpstreamSet([], { createClient: factory.createClient }).targets('registry.example.com/x').length, 0, 'standalone: nothing to contact');
    assert.equal(factory.made.length, before, 'no client made');
  });

  test('credentials: explicit ones win, else docker config.json by host (ad-hoc clients too)', () => {
    const factory = recordingFactory();
    const dockerCredentials = parseDockerConfig(
      {
        auths: {
          '192.168.64.150:5000': { auth: Buffer.from('fromfile:1').toString('base64') },
          'https://index.docker.io/v1/': { username: 'hub', password: '2' },
          'registry.example.com': { username: 'gh', password: '3' },
        },
      },
      '/home/u/.docker/config.json',
    );
    const set = new UpstreamSet([{ ...seed, credentials: { username: 'explicit', password: '0' } }, hub], { createClient: factory.createClient, dockerCredentials, allowedRegistries: ['registry.example.com'] });
    set.targets('registry.example.com/x/y');
    const byUrl = new Map(factory.made.map((m) => [m.url, m]));
    assert.deepEqual(byUrl.get('http://192.168.64.150:5000')!.credentials, { username: 'explicit', password: '0' });
    assert.equal(byUrl.get('http://192.168.64.150:5000')!.credentialsSource, 'the shoal config');
    assert.deepEqual(byUrl.get('https://registry-1.docker.io')!.credentials, { username: 'hub', password: '2' });
    assert.equal(byUrl.get('https://registry-1.docker.io')!.credentialsSource, '/home/u/.docker/config.json');
    assert.deepEqual(byUrl.get('https://registry.example.com')!.credentials, { username: 'gh', password: '3' });
  });

  test('timeouts from options reach the clients', () => {
    const factory = recordingFactory();
    new UpstreamSet([seed], { createClient: factory.createClient, upstreamTimeoutMs: 1234, bodyIdleTimeoutMs: 5678 });
    assert.equal(factory.made[0]!.timeoutMs, 1234);
    assert.equal(factory.made[0]!.bodyIdleTimeoutMs, 5678);
  });

  test('the real client knows its host as docker writes it', async () => {
    const set = new UpstreamSet([seed, hub]);
    assert.deepEqual(set.upstreams.map((u) => u.host), ['192.168.64.150:5000', 'docker.io']);
    await set.close();
  });
});

describe('naming helpers', () => {
  test('remoteName', () => {
    assert.equal(remoteName('docker.io', 'nginx'), 'library/nginx');
    assert.equal(remoteName('docker.io', 'library/nginx'), 'library/nginx');
    assert.equal(remoteName('seed:5000', 'nginx'), 'nginx');
  });

  test('isLoopbackHost', () => {
    for (const yes of ['localhost', 'localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000']) assert.ok(isLoopbackHost(yes), yes);
    for (const no of ['192.168.1.1:5000', 'registry.example.com', 'localhost.example.com', '[::2]:5000']) assert.ok(!isLoopbackHost(no), no);
  });

  test('nextLink: relative and absolute, rel among others, none', () => {
    const base = 'http://r:5000/v2/_catalog';
    assert.equal(nextLink('</v2/_catalog?last=b&n=2>; rel="next"', base), 'http://r:5000/v2/_catalog?last=b&n=2');
    assert.equal(nextLink('<https://other/v2/x/tags/list?last=9>; rel=next', base), 'https://other/v2/x/tags/list?last=9');
    assert.equal(nextLink('</prev>; rel="prev", </n>; rel="last next"', base), 'http://r:5000/n');
    assert.equal(nextLink('</prev>; rel="prev"', base), undefined);
    assert.equal(nextLink(undefined, base), undefined);
  });
});
