import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';
import { skopeoCopy, skopeoInspectRaw } from '../helpers/skopeo.ts';
import { startTokenService, type TokenService } from '../helpers/token-service.ts';

const MiB = 1024 * 1024;

async function digestOfResponse(response: Response): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of response.body!) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

/** skopeo copies the image out of shoal into an OCI layout, verifying every blob as it goes. */
async function pullWithSkopeo(node: ShoalProcess, ref: string, creds?: { username: string; password: string }): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-pull-'));
  try {
    await skopeoCopy(`docker://${node.host}/${ref}`, `oci:${dir}:pulled`, creds ? { srcCreds: creds } : {});
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function blobFileExists(node: ShoalProcess, digest: string): Promise<boolean> {
  const hex = digest.slice(7);
  return import('node:fs/promises').then((fs) => fs.stat(join(node.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data')).then(() => true, () => false));
}

describe('pull-through from a real docker-registry seed', () => {
  let seed: SeedRegistry;
  let node: ShoalProcess;
  let image: TestImage;
  let big: TestImage;

  before(async () => {
    seed = await startSeedRegistry();
    image = await makeImage({ layers: [1 * MiB, 300 * 1024], seed: 'pull-through' });
    big = await makeImage({ layers: [40 * MiB], seed: 'pull-through-big' });
    await pushImage(seed.url, 'library/web', '1.0', image);
    await pushImage(seed.url, 'big', 'v1', big);
    node = await startShoal({ upstreams: [seed.url] });
  });

  after(async () => {
    seed?.resume();
    await node?.dispose();
    await seed?.stop();
    await image?.cleanup();
    await big?.cleanup();
  });

  test('skopeo pulls through shoal; a second pull makes zero upstream blob requests', async () => {
    seed.clearLog();
    await pullWithSkopeo(node, 'library/web:1.0');
    assert.equal(await seed.blobGets(), image.blobs.length, 'each blob fetched from the seed exactly once');
    await pullWithSkopeo(node, 'library/web:1.0');
    assert.equal(await seed.blobGets(), image.blobs.length, 'the second pull is served from shoal');
  });

  test('a moved tag is seen on the next pull', async () => {
    const next = await makeImage({ layers: [200 * 1024], seed: 'pull-through-moved' });
    try {
      await pullWithSkopeo(node, 'library/web:1.0');
      await pushImage(seed.url, 'library/web', '1.0', next);
      const raw = await skopeoInspectRaw(`docker://${node.host}/library/web:1.0`);
      assert.equal(`sha256:${createHash('sha256').update(raw).digest('hex')}`, next.digest);
      await pullWithSkopeo(node, 'library/web:1.0');
    } finally {
      await pushImage(seed.url, 'library/web', '1.0', image);
      await next.cleanup();
    }
  });

  test('bytes reach the client before the blob is complete, and the fetch finishes after the client leaves', async () => {
    const layer = big.layers[0]!;
    const response = await fetch(`${node.url}/v2/big/blobs/${layer.digest}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), String(layer.size));
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.equal(first.done, false);
    seed.pause();
    try {
      assert.equal(await blobFileExists(node, layer.digest), false, 'the first bytes arrived before the blob was committed');
      await reader.cancel();
    } finally {
      seed.resume();
    }
    await eventually(() => blobFileExists(node, layer.digest), 20_000, 'the abandoned fetch to finish and commit');
    const again = await fetch(`${node.url}/v2/big/blobs/${layer.digest}`);
    assert.equal(await digestOfResponse(again), layer.digest);
  });

  test('100 concurrent GETs of one missing blob cause exactly one upstream fetch', async () => {
    const fresh = await makeImage({ layers: [8 * MiB], seed: 'pull-through-concurrent' });
    try {
      await pushImage(seed.url, 'concurrent', 'v1', fresh);
      seed.clearLog();
      const layer = fresh.layers[0]!;
      const digests = await Promise.all(Array.from({ length: 100 }, async () => digestOfResponse(await fetch(`${node.url}/v2/concurrent/blobs/${layer.digest}`))));
      assert.ok(digests.every((d) => d === layer.digest), 'every client got the verified bytes');
      const gets = await seed.blobGets(layer.digest);
      if (gets !== 1) console.log(JSON.stringify(node.logs().filter((l) => (l.level as number) >= 40 || String(l.msg).includes('fetch')).slice(-30), null, 1));
      assert.equal(gets, 1);
    } finally {
      await fresh.cleanup();
    }
  });

  test('a Range request on a cache miss is answered from the arriving blob', async () => {
    const fresh = await makeImage({ layers: [2 * MiB], seed: 'pull-through-range' });
    try {
      await pushImage(seed.url, 'ranged', 'v1', fresh);
      const layer = fresh.layers[0]!;
      const response = await fetch(`${node.url}/v2/ranged/blobs/${layer.digest}`, { headers: { range: 'bytes=1000-1999' } });
      assert.equal(response.status, 206);
      assert.equal(response.headers.get('content-range'), `bytes 1000-1999/${layer.size}`);
      const bytes = Buffer.from(await response.arrayBuffer());
      assert.equal(bytes.byteLength, 1000);
    } finally {
      await fresh.cleanup();
    }
  });

  // A host with a port cannot be a name component (the grammar has no ':'), so the host-in-name form
  // is covered by the UpstreamSet unit tests; containerd's ?ns= carries host:port fine.
  test('containerd ?ns=host:port maps to that registry when it is allowed (allowed-registries), even on a node with no upstream', async () => {
    const closed = await startShoal();
    try {
      const refused = await fetch(`${closed.url}/v2/library/web/manifests/1.0?ns=${seed.host}`, { headers: { accept: image.mediaType } });
      assert.equal(refused.status, 404, 'not allowed: refused');
    } finally {
      await closed.dispose();
    }
    const bare = await startShoal({ args: ['--allowed-registries', seed.host] });
    try {
      const viaNs = await fetch(`${bare.url}/v2/library/web/manifests/1.0?ns=${seed.host}`, { headers: { accept: image.mediaType } });
      assert.equal(viaNs.status, 200);
      assert.equal(viaNs.headers.get('docker-content-digest'), image.digest);
      const blob = await fetch(`${bare.url}/v2/library/web/blobs/${image.layers[0]!.digest}?ns=${seed.host}`);
      assert.equal(await digestOfResponse(blob), image.layers[0]!.digest);
    } finally {
      await bare.dispose();
    }
    const viaNs = await fetch(`${node.url}/v2/library/web/manifests/1.0?ns=${seed.host}`, { headers: { accept: image.mediaType } });
    assert.equal(viaNs.status, 200);
    assert.equal(viaNs.headers.get('docker-content-digest'), image.digest);
  });

  test('tags list and catalog merge local and upstream', async () => {
    const pushed = await makeImage({ layers: [1024], seed: 'local-only' });
    try {
      await pushImage(node.url, 'library/web', 'local-tag', pushed);
      const tags = (await (await fetch(`${node.url}/v2/library/web/tags/list`)).json()) as { tags: string[] };
      assert.deepEqual(tags.tags, ['1.0', 'local-tag']);
      const catalog = (await (await fetch(`${node.url}/v2/_catalog`)).json()) as { repositories: string[] };
      for (const name of ['big', 'concurrent', 'library/web']) assert.ok(catalog.repositories.includes(name), `${name} in catalog`);
    } finally {
      await pushed.cleanup();
    }
  });

  // Last in this suite: the seed stays down.
  test('seed stopped: the cached tag still pulls; an uncached blob and an unknown repository\'s tags fail fast with 503', async () => {
    await pullWithSkopeo(node, 'library/web:1.0');
    const uncached = await makeImage({ layers: [4096], seed: 'never-pulled' });
    await pushImage(seed.url, 'cold', 'v1', uncached);
    await seed.stop();
    try {
      await pullWithSkopeo(node, 'library/web:1.0');
      assert.ok(node.logs().some((line) => String(line.msg).includes('seed unreachable')), 'the log says the cached tag was served');
      const started = Date.now();
      const response = await fetch(`${node.url}/v2/cold/blobs/${uncached.layers[0]!.digest}`);
      assert.equal(response.status, 503);
      const body = (await response.json()) as { errors: Array<{ code: string }> };
      assert.equal(body.errors[0]!.code, 'UNAVAILABLE');
      assert.ok(Date.now() - started < 10_000, 'no hang when the seed is down');
      // A repository unknown here cannot be called unknown upstream while the seed is down.
      const tags = await fetch(`${node.url}/v2/cold/tags/list`);
      assert.equal(tags.status, 503);
      assert.equal(((await tags.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'UNAVAILABLE');
      const cachedTags = (await (await fetch(`${node.url}/v2/library/web/tags/list`)).json()) as { tags: string[] };
      assert.ok(cachedTags.tags.includes('1.0'), 'a cached repository still lists its tags');
    } finally {
      await uncached.cleanup();
    }
  });
});

/** The node's pull of private/app:v1 is refused (the seed wanted another login), never a 500; then `also`, then the node goes. */
async function refusedBySeed(node: ShoalProcess, also?: (node: ShoalProcess) => void): Promise<void> {
  try {
    const response = await fetch(`${node.url}/v2/private/app/manifests/v1`);
    assert.ok(response.status >= 400 && response.status !== 500, `refused with ${response.status}`);
    also?.(node);
  } finally {
    await node.dispose();
  }
}

describe('pull-through from an authenticating seed', () => {
  const user = { username: 'puller', password: 's3cret-pass' };

  test('htpasswd basic auth', async () => {
    const seed = await startSeedRegistry({ auth: { htpasswd: user } });
    const image = await makeImage({ layers: [256 * 1024], seed: 'basic-auth' });
    const node = await startShoal({ upstreams: [seed.url], args: ['--upstream-username', user.username, '--upstream-password', user.password] });
    try {
      await pushImage(seed.url, 'private/app', 'v1', image, { auth: user });
      await pullWithSkopeo(node, 'private/app:v1');
      await refusedBySeed(await startShoal({ upstreams: [seed.url], args: ['--upstream-username', user.username, '--upstream-password', 'wrong'] }));
    } finally {
      await node.dispose();
      await seed.stop();
      await image.cleanup();
    }
  });

  test('the seed\'s login from docker\'s credential helper (credsStore), asked as docker asks it; a helper that is missing is a warning, not a crash', async () => {
    const seed = await startSeedRegistry({ auth: { htpasswd: user } });
    const image = await makeImage({ layers: [128 * 1024], seed: 'creds-store' });
    const dir = await mkdtemp(join(tmpdir(), 'shoal-credstore-'));
    const host = new URL(seed.url).host;
    // A stand-in for docker-credential-pass and the like: the secret for the seed only.
    const helper = join(dir, 'bin', 'docker-credential-shoaltest');
    await mkdir(join(dir, 'bin'));
    await writeFile(helper, `#!/bin/sh\nread server\ncase "$1" in\n  list) echo '{"${host}":"${user.username}"}' ;;\n  get) [ "$server" = "${host}" ] || { echo "credentials not found in native keychain"; exit 1; }; echo '{"ServerURL":"${host}","Username":"${user.username}","Secret":"${user.password}"}' ;;\nesac\n`);
    await chmod(helper, 0o755);
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ auths: { [host]: {} }, credsStore: 'shoaltest' }));
    const node = await startShoal({ upstreams: [seed.url], args: ['--docker-config', config], env: { PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` } });
    try {
      await pushImage(seed.url, 'private/app', 'v1', image, { auth: user });
      await pullWithSkopeo(node, 'private/app:v1');
      // The same config on a host without the helper: refused by the seed, and the log says why.
      await refusedBySeed(await startShoal({ upstreams: [seed.url], args: ['--docker-config', config] }), (without) => {
        assert.ok(without.logs().some((line) => /docker-credential-shoaltest \(credsStore\) could not list its registries: not installed/.test(String(line['msg']))), 'a warning naming the helper');
      });
    } finally {
      await node.dispose();
      await seed.stop();
      await image.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('bearer token flow against docker-registry configured for token auth', async () => {
    let tokens: TokenService | undefined;
    let seed: SeedRegistry | undefined;
    let node: ShoalProcess | undefined;
    const image = await makeImage({ layers: [256 * 1024, 512 * 1024], seed: 'token-auth' });
    try {
      tokens = await startTokenService({ users: { [user.username]: user.password } });
      seed = await startSeedRegistry({ auth: { token: tokens.registryAuth } });
      await pushImage(seed.url, 'secure/app', 'v1', image, { auth: user });
      node = await startShoal({ upstreams: [seed.url], args: ['--upstream-username', user.username, '--upstream-password', user.password] });
      const before = tokens.tokensIssued();
      await pullWithSkopeo(node, 'secure/app:v1');
      const issued = tokens.tokensIssued() - before;
      assert.ok(issued >= 1 && issued <= 2, `tokens are cached per scope (issued ${issued})`);
      assert.ok(tokens.requests.slice(-issued).every((r) => r.account === user.username), 'shoal authenticated to the token service');
    } finally {
      await node?.dispose();
      await seed?.stop();
      await tokens?.stop();
      await image.cleanup();
    }
  });
});
