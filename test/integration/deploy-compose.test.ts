// CI checks of the container deployment without building or running anything (CI builds no
// images): the compose tool here resolves docker-compose.test.yml, whose services, network,
// healthchecks and images are the ones test/compose/pull-through.sh relies on; the Dockerfile and
// the compose file name only images that deploy/build-images.sh makes. The end-to-end run is
// deploy/compose-test.sh, run by hand (it builds images for minutes).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { parse } from 'yaml';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const NODES = ['node1', 'node2', 'node3'];

/** `docker compose` (v2 plugin) when it answers, else `docker-compose` (Debian's v1). */
async function composeCommand(): Promise<string[]> {
  for (const command of [['docker', 'compose'], ['docker-compose']]) {
    try {
      await run(command[0]!, [...command.slice(1), 'version'], { timeout: 30_000 });
      return command;
    } catch {
      // try the next one
    }
  }
  throw new Error("neither 'docker compose' nor 'docker-compose' is installed: .ci/run installs Debian's docker-compose");
}

/** Image names deploy/build-images.sh tags: its IMG_*=name lines (the shoal image's tag is a variable). */
async function builtImages(): Promise<Set<string>> {
  const script = await readFile(`${repo}/deploy/build-images.sh`, 'utf8');
  const names = [...script.matchAll(/^IMG_[A-Z]+=(\S+)$/gm)].map((m) => m[1]!.replace('$suite', 'bookworm').replace('$shoal_tag', 'latest'));
  assert.ok(names.length >= 6, `build-images.sh names its images in IMG_* variables (found ${names.join(', ')})`);
  return new Set(names);
}

interface ComposeService {
  image?: string;
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] | string };
  networks?: Record<string, unknown> | string[];
  volumes?: (string | { source?: string; target?: string; type?: string })[];
  command?: string[] | string;
}

interface ComposeConfig {
  services: Record<string, ComposeService>;
  networks?: Record<string, { driver?: string; internal?: boolean; ipam?: { config?: { subnet?: string }[] } }>;
  volumes?: Record<string, unknown>;
}

const networksOf = (s: ComposeService): string[] => (Array.isArray(s.networks) ? s.networks : Object.keys(s.networks ?? {}));
const dependencies = (s: ComposeService): Record<string, string | undefined> =>
  Array.isArray(s.depends_on)
    ? Object.fromEntries(s.depends_on.map((name) => [name, undefined]))
    : Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([name, d]) => [name, d.condition]));
/** Volume mounts as [source, target], from either the short or the long syntax. */
const mounts = (s: ComposeService): [string, string][] =>
  (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return [v.source ?? '', v.target ?? ''];
    const [source = '', target = ''] = v.split(':');
    return [source, target];
  });

describe('docker-compose.test.yml', () => {
  let config: ComposeConfig;

  test('the compose tool here resolves it', async () => {
    const compose = await composeCommand();
    // Without the caller's overrides, so the defaults in the file are what is checked.
    const env = { ...process.env };
    for (const name of ['SHOAL_IMAGE', 'SHOAL_COMPOSE_SUBNET', 'LAYER_SIZES', 'SHOAL_LOG_LEVEL', 'COMPOSE_FILE', 'COMPOSE_PROJECT_NAME']) delete env[name];
    const { stdout } = await run(compose[0]!, [...compose.slice(1), '-f', 'docker-compose.test.yml', 'config'], { cwd: repo, env, timeout: 60_000 });
    config = parse(stdout) as ComposeConfig;
    assert.ok(config?.services, `${compose.join(' ')} config printed no services:\n${stdout}`);
  });

  test('a seed, three shoal nodes and a client, all on one bridge network', () => {
    assert.deepEqual(Object.keys(config.services).sort(), ['client', ...NODES, 'seed']);
    const lan = config.networks?.lan;
    assert.ok(lan, 'network lan');
    assert.equal(lan.driver ?? 'bridge', 'bridge');
    assert.notEqual(lan.internal, true, 'an internal network drops the mDNS multicast');
    assert.match(lan.ipam?.config?.[0]?.subnet ?? '', /^\d+\.\d+\.\d+\.\d+\/\d+$/);
    for (const [name, service] of Object.entries(config.services)) assert.deepEqual(networksOf(service), ['lan'], `${name} is on lan only`);
  });

  test('every node pulls through the seed, serves the client, and has a healthcheck the client waits for', () => {
    for (const name of NODES) {
      const node = config.services[name]!;
      assert.equal(node.environment?.SHOAL_UPSTREAM, 'http://seed:5000', name);
      assert.equal(node.environment?.SHOAL_LISTEN, '0.0.0.0:5000', `${name}: the client reaches the API over the network`);
      assert.equal(String(node.environment?.SHOAL_ALLOW_INSECURE_LISTEN), 'true', `${name}: shoal refuses an open listen address without it`);
      assert.equal(node.environment?.SHOAL_SWARM ?? 'true', 'true', `${name}: swarm on`);
      assert.equal(dependencies(node).seed, 'service_healthy', `${name} waits for the seed`);
      assert.match(JSON.stringify(node.healthcheck?.test), /docker-healthcheck\.mjs/, `${name} healthcheck`);
    }
    const client = config.services.client!;
    assert.deepEqual(dependencies(client), Object.fromEntries(NODES.map((n) => [n, 'service_healthy'])));
    assert.deepEqual(client.environment?.NODES?.split(' '), NODES);
    assert.equal(client.environment?.SEED, 'seed:5000');
  });

  test("the client runs test/compose/pull-through.sh and reads the seed's access log", async () => {
    const client = config.services.client!;
    const seed = config.services.seed!;
    assert.match(JSON.stringify(client.command), /\/test\/pull-through\.sh/);
    const testDir = mounts(client).find(([, target]) => target === '/test');
    assert.ok(testDir, 'test/compose mounted at /test');
    assert.equal(testDir[0], `${repo}/test/compose`);
    await access(`${repo}/test/compose/pull-through.sh`);
    const logFile = seed.environment?.ACCESS_LOG_FILE ?? '';
    const seedLog = mounts(seed).find(([, target]) => logFile.startsWith(`${target}/`));
    assert.ok(seedLog, `the seed's ACCESS_LOG_FILE (${logFile}) is in a volume`);
    const clientLog = mounts(client).find(([source]) => source === seedLog[0]);
    assert.ok(clientLog, 'the client mounts the same volume');
    assert.equal(client.environment?.SEED_ACCESS_LOG, `${clientLog[1]}/${logFile.slice(seedLog[1].length + 1)}`);
    assert.ok(config.volumes && seedLog[0] in config.volumes, 'a named volume');
    assert.ok(seed.healthcheck?.test, 'the seed has a healthcheck');
  });

  test('every image is one deploy/build-images.sh makes', async () => {
    const built = await builtImages();
    for (const [name, service] of Object.entries(config.services)) assert.ok(built.has(service.image ?? ''), `${name}: ${service.image} is built by build-images.sh (${[...built].join(', ')})`);
  });
});

describe('Dockerfile', () => {
  const instructions = async (): Promise<[string, string][]> => {
    const text = (await readFile(`${repo}/Dockerfile`, 'utf8')).replace(/\\\n/g, ' ');
    return text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => {
        const [word = '', ...rest] = line.split(/\s+/);
        return [word.toUpperCase(), rest.join(' ')];
      });
  };

  test('is multi-stage on the base images build-images.sh makes', async () => {
    const all = await instructions();
    const built = await builtImages();
    const args = Object.fromEntries(all.filter(([w, rest]) => w === 'ARG' && rest.includes('=')).map(([, rest]) => rest.split('=') as [string, string]));
    const froms = all.filter(([w]) => w === 'FROM').map(([, rest]) => rest.split(/\s+/)[0]!.replace(/^\$\{(\w+)\}$/, (_, name: string) => args[name] ?? name));
    assert.equal(froms.length, 2, 'a build stage and a runtime stage');
    for (const image of froms) assert.ok(built.has(image), `FROM ${image} is built by build-images.sh`);
  });

  test('runs as a non-root user with data in /var/lib/shoal, exposes 5000-5002 and checks /v2/', async () => {
    const all = await instructions();
    const last = all.slice(all.map(([w]) => w).lastIndexOf('FROM'));
    const get = (word: string) => last.filter(([w]) => w === word).map(([, rest]) => rest);
    const user = get('USER').at(-1) ?? '';
    assert.ok(user && !/^(root|0)(:|$)/.test(user), `USER ${user} is not root`);
    assert.deepEqual(get('EXPOSE').join(' ').split(/\s+/).sort(), ['5000', '5001', '5002']);
    assert.match(get('VOLUME').join(' '), /\/var\/lib\/shoal/);
    assert.match(get('ENV').join(' '), /SHOAL_DATA_DIR=\/var\/lib\/shoal/);
    assert.match(get('HEALTHCHECK').join(' '), /docker-healthcheck\.mjs/);
    const healthcheck = await readFile(`${repo}/deploy/docker-healthcheck.mjs`, 'utf8');
    assert.match(healthcheck, /\/v2\//);
    assert.match(get('ENTRYPOINT').join(' '), /bin\/shoal\.js/);
  });

  test('.dockerignore lets in what the Dockerfile copies and keeps node_modules out', async () => {
    const ignore = (await readFile(`${repo}/.dockerignore`, 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    assert.equal(ignore[0], '*', 'everything is excluded unless let in');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    assert.ok(!allowed.some((p) => p.startsWith('node_modules')), 'node_modules stays out');
    const copies = (await instructions()).filter(([w, rest]) => w === 'COPY' && !rest.startsWith('--from'));
    for (const [, rest] of copies) {
      const words = rest.split(/\s+/).filter((w) => !w.startsWith('--'));
      for (const source of words.slice(0, -1)) {
        const path = source.replace(/^\.\//, '').replace(/\/$/, '');
        assert.ok(allowed.includes(path), `COPY ${source}: let in by .dockerignore`);
        await access(`${repo}/${path}`);
      }
    }
  });
});
