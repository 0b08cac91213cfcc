// A seed that goes silent in the middle of a layer (docker-registry frozen with SIGSTOP while the
// body streams): after upstream-body-timeout the transfer is dropped and the fetch engine resumes
// it with Range, instead of holding every waiting client for minutes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { SETTINGS } from '../../src/config/schema.ts';
import { eventually } from '../helpers/eventually.ts';
import { makeImage, pushImage, type TestImage } from '../helpers/images.ts';
import { startSeedRegistry, type SeedRegistry } from '../helpers/seed-registry.ts';
import { startShoal, type ShoalProcess } from '../helpers/shoal-process.ts';

const MiB = 1024 * 1024;

describe('a seed that stalls mid-body', () => {
  let seed: SeedRegistry;
  let node: ShoalProcess;
  let big: TestImage;

  before(async () => {
    seed = await startSeedRegistry();
    // Big enough that the kernel's socket buffers cannot hold the rest when the seed freezes.
    big = await makeImage({ layers: [128 * MiB], seed: 'body-timeout' });
    await pushImage(seed.url, 'big', 'v1', big);
    // A long first-byte timeout: the resumed request waits for the thawed seed rather than failing.
    node = await startShoal({ upstreams: [seed.url], args: ['--upstream-body-timeout', '2s', '--upstream-timeout', '60s'] });
  });

  after(async () => {
    seed?.resume();
    await node?.dispose();
    await seed?.stop();
    await big?.cleanup();
  });

  test('the default body idle timeout is at most 30 s', () => {
    const setting = SETTINGS.upstreamBodyTimeout;
    const raw = setting.defaultRaw({ baseDir: '/', homedir: homedir(), env: {} });
    assert.ok(raw !== undefined && setting.parse(raw, { baseDir: '/', homedir: homedir(), env: {} }) <= 30_000, `default ${raw}`);
  });

  test('the silent transfer is dropped after upstream-body-timeout and resumed with Range; the client gets every byte', async () => {
    const layer = big.layers[0]!;
    const response = await fetch(`${node.url}/v2/big/blobs/${layer.digest}`);
    assert.equal(response.status, 200);
    seed.pause();
    const reader = response.body!.getReader();
    const hash = createHash('sha256');
    let received = 0;
    const drained = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        hash.update(value);
        received += value.byteLength;
      }
    })();
    try {
      const dropped = (): boolean => node.logs().some((line) => line.msg === 'seed transfer broke off; resuming with Range' && /UND_ERR_BODY_TIMEOUT/.test(JSON.stringify(line.err)));
      // Bounded generously for a busy machine; the old fixed timeout was 120 s.
      await eventually(dropped, 60_000, 'the stalled body to be dropped while the seed is still frozen');
    } finally {
      seed.resume();
    }
    await drained;
    assert.equal(received, layer.size);
    assert.equal(`sha256:${hash.digest('hex')}`, layer.digest);
    const ranged = (await seed.requests()).filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${layer.digest}`));
    assert.equal(ranged.length, 2, 'one first request and one resumed request');
  });
});
