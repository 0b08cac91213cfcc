// A tag pushed again reaches every host, including those that pulled it before: the last writer
// wins (README), with no seed at all and with a seed that does not have the repository. Real
// daemons on loopback, one swarm. Before, a host that had pulled `app:1` served that image for
// good, whatever was pushed after it, and a cluster could answer three digests for one tag.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { freePort, startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const sha256 = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const LOOPBACK_SWARM = ['--p2p-port', '0', '--peer-port', '0', '--no-mdns', '--bind-address', '127.0.0.1'];
const REPO = 'team/app';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Pushes a one-layer image whose layer says `text` as REPO:tag; returns the manifest digest. */
async function pushImage(to: ShoalProcess, tag: string, text: string): Promise<string> {
  const config = Buffer.from(`{"architecture":"amd64","os":"linux","text":"${text}"}`);
  const layer = Buffer.from(`layer of ${text}`);
  for (const bytes of [config, layer]) {
    const put = await fetch(`${to.url}/v2/${REPO}/blobs/uploads/?digest=${sha256(bytes)}`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(put.status, 201, await put.text());
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
  });
  const put = await fetch(`${to.url}/v2/${REPO}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } });
  assert.equal(put.status, 201, await put.text());
  return sha256(manifest);
}

/** The digest `on` answers for REPO:tag, or its status when it answers none. */
async function digestOn(on: ShoalProcess, tag: string): Promise<string> {
  const response = await fetch(`${on.url}/v2/${REPO}/manifests/${tag}`, { headers: { accept: OCI_MANIFEST } });
  const body = Buffer.from(await response.arrayBuffer());
  return response.status === 200 ? sha256(body) : `status ${response.status}`;
}

async function multiaddrOf(host: ShoalProcess): Promise<string> {
  return ((await (await fetch(`${host.url}/_shoal/status`)).json()) as { node: { multiaddrs: string[] } }).node.multiaddrs[0]!;
}

async function swarmOf(count: number, upstreams: readonly string[]): Promise<ShoalProcess[]> {
  const first = await startShoal({ swarm: true, upstreams, args: LOOPBACK_SWARM });
  const hosts = [first];
  const bootstrap = await multiaddrOf(first);
  for (let i = 1; i < count; i++) hosts.push(await startShoal({ swarm: true, upstreams, args: [...LOOPBACK_SWARM, '--bootstrap', bootstrap] }));
  return hosts;
}

function repushCase(label: string, upstreams: () => readonly string[]): void {
  describe(`a tag pushed again, ${label}`, { timeout: 180_000 }, () => {
    let hosts: ShoalProcess[] = [];
    before(async () => {
      hosts = await swarmOf(3, upstreams());
    });
    after(async () => {
      await Promise.all(hosts.map((h) => h.dispose()));
    });

    test('reaches the hosts that pulled it before, and every host answers the newest push', async () => {
      const [a, b, c] = hosts as [ShoalProcess, ShoalProcess, ShoalProcess];
      const first = await pushImage(a, '1', 'first');
      for (const host of [b, c]) await eventually(async () => (await digestOn(host, '1')) === first, 30_000, 'the first push to resolve on every host');
      const second = await pushImage(a, '1', 'second');
      for (const host of [a, b, c]) await eventually(async () => (await digestOn(host, '1')) === second, 30_000, 'the second push to reach every host, those that pulled the first included');
      // A third push, on a host that had taken the tag from the swarm.
      const third = await pushImage(b, '1', 'third');
      for (const host of [a, b, c]) await eventually(async () => (await digestOn(host, '1')) === third, 30_000, 'the third push, from another host, to reach every host');
      // Pulled again a little later: nobody went back to an older push.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      for (const host of [a, b, c]) assert.equal(await digestOn(host, '1'), third);
    });
  });
}

let seed: SeedRegistry | undefined;
repushCase('with no seed', () => []);
// Configured, but nothing answers there: a pushed tag is the swarm's, seed or no seed.
let deadSeed = '';
describe('with the seed down', () => {
  before(async () => {
    deadSeed = `http://127.0.0.1:${await freePort()}`;
  });
  repushCase('while the seed is down', () => [deadSeed]);
});
describe('with a seed that does not have the repository', () => {
  before(async () => {
    seed = await startSeedRegistry();
  });
  after(async () => {
    await seed?.stop();
  });
  repushCase('on a seed that lacks it', () => [seed!.url]);
});
