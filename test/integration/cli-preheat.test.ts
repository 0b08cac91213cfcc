// `shoal preheat` / `prefetch --all-nodes` against one real daemon on loopback (no swarm: the
// cluster is this node alone) and a real docker-registry seed: the terminal display, and the admin
// API's refusals. The multi-node behaviour is in preheat.test.ts (network namespaces).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { freePort, startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';
import { CONTROL_CODES, NODE, ROOT, runShoal, SHOAL } from './cli-run.ts';

const MiB = 1024 * 1024;

/** Runs the command under script(1), so its stdout is a terminal. */
function onTerminal(args: readonly string[]): Promise<{ code: number; text: string }> {
  const command = [NODE, SHOAL, ...args].map((arg) => `'${arg}'`).join(' ');
  return new Promise((done) => {
    execFile('script', ['-q', '-e', '-c', command, '/dev/null'], { cwd: ROOT, env: { ...process.env, TERM: 'xterm', NO_COLOR: '' }, timeout: 60_000 }, (error, stdout) => {
      done({ code: error === null ? 0 : Number(error.code), text: stdout });
    });
  });
}

describe('shoal preheat on one node', () => {
  let seed: SeedRegistry;
  let node: ShoalProcess;
  let tools: TestImage;
  let other: TestImage;

  before(async () => {
    seed = await startSeedRegistry();
    tools = await makeImage({ layers: [1 * MiB, 200 * 1024], seed: 'cli-preheat-tools' });
    other = await makeImage({ layers: [512 * 1024], seed: 'cli-preheat-other' });
    await pushImage(seed.url, 'tools', '1', tools);
    await pushImage(seed.url, 'other', '1', other);
    // Listening on every interface: the admin API must still take a preheat from this host only.
    const port = await freePort();
    node = await startShoal({ port, upstreams: [seed.url], args: ['--listen', `0.0.0.0:${port}`, '--allow-insecure-listen'] });
  });
  after(async () => {
    await node?.dispose();
    await seed?.stop();
    await Promise.all([tools, other].map((image) => image?.cleanup()));
  });

  test('in a pipe: the node, its outcome and the summary, no control codes; exit 0', async () => {
    const run = await runShoal(['preheat', '--listen', node.host, 'tools:1']);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.doesNotMatch(run.stdout, CONTROL_CODES);
    // (a progress line every 2 s while it runs, on a slow machine)
    assert.match(run.stdout, /^preheating tools:1 on 1 node \(this node\)\n(this node {2}\d+% {2}.* \/ 1\.2 MiB {2}.*\n)*this node: done, 1\.2 MiB in [\d.]+ s\npreheated 1 image on 1 node, 1\.2 MiB each, in [\d.]+ s\n$/);
  });

  test('on a terminal: a bar per node, redrawn in place', async () => {
    const output = await onTerminal(['prefetch', '--all-nodes', '--listen', node.host, 'other:1']);
    assert.equal(output.code, 0, output.text);
    assert.ok(output.text.includes('\x1b[K'), 'erases the rest of each line');
    const lines = output.text.replaceAll('\r\n', '\n').split('\n').map((line) => line.split('\r').at(-1)!.replaceAll('\x1b[K', '').replace(/^\x1b\[\d+A/, ''));
    assert.ok(lines.some((line) => /^this node █+ done, 512\.\d KiB in [\d.]+ s$/.test(line)), output.text);
    assert.ok(lines.some((line) => /^preheated 1 image on 1 node, /.test(line)), output.text);
  });

  test('the admin API: only this host may start one; bad requests and unknown jobs say what is wrong', async () => {
    const lan = Object.values(networkInterfaces()).flat().find((a) => a?.family === 'IPv4' && !a.internal)?.address;
    assert.ok(lan, 'this machine has a non-loopback IPv4 address to ask from');
    const body = JSON.stringify({ images: [{ name: 'tools', reference: '1' }] });
    const remote = await fetch(`http://${lan}:${node.port}/_shoal/preheat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(remote.status, 403);
    assert.match(await remote.text(), /"code":"DENIED".*answer on the node itself/);
    const remoteList = await fetch(`http://${lan}:${node.port}/_shoal/preheat`);
    assert.equal(remoteList.status, 403, 'nor are preheats listed to another host');
    for (const [bad, message] of [
      ['{"images":[]}', /1 to 64 images/],
      ['{"images":[{"name":"Bad","reference":"1"}]}', /"Bad" is not a valid repository name/],
      ['{"images":[{"name":"tools","reference":"sha256:zz"}]}', /tools: /],
      ['not json', /the body is not JSON/],
      ['{"images":[{"name":"tools","reference":"1"}],"jobs":0}', /jobs must be a whole number from 1 to 32/],
    ] as const) {
      const response = await fetch(`${node.url}/_shoal/preheat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bad });
      assert.equal(response.status, 400, bad);
      const { errors } = (await response.json()) as { errors: Array<{ code: string; message: string }> };
      assert.match(errors[0]!.message, message);
    }
    const missing = await fetch(`${node.url}/_shoal/preheat/no-such-job`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /no such preheat on this node/);
  });

  test('a bad --jobs is a usage error (exit 2) before any node is asked', async () => {
    const jobCount = async (): Promise<number> => ((await (await fetch(`${node.url}/_shoal/preheat`)).json()) as { jobs: unknown[] }).jobs.length;
    const before = await jobCount();
    const run = await runShoal(['preheat', '--listen', node.host, '--jobs', '0', 'tools:1']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /invalid --jobs "0": expected a number of parallel blob downloads from 1 to 32/);
    assert.equal(await jobCount(), before, 'no preheat was started');
  });

  test('daemon down: exit 1 and how to start it', async () => {
    const run = await runShoal(['preheat', '--listen', `127.0.0.1:${await freePort()}`, 'tools:1']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^shoal: cannot reach the shoal daemon at .*; is shoal running\? start it with/);
  });
});
