// kad-dht (~60 modules, ~2 MiB of an idle node's heap) is loaded only by a node that runs owner
// committees: a node without them never imports it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Builds a swarm node (not started) in a fresh process; says whether any kad-dht module was loaded. */
async function loadsDht(dht: boolean): Promise<boolean> {
  const script = `
    import { registerHooks } from 'node:module';
    let loaded = false;
    registerHooks({ load(url, context, next) { if (url.includes('/@libp2p/kad-dht/')) loaded = true; return next(url, context); } });
    const { generateKeyPair } = await import('@libp2p/crypto/keys');
    const { createSwarmNode } = await import(${JSON.stringify(new URL('../../src/swarm/node.ts', import.meta.url).href)});
    const node = await createSwarmNode({ privateKey: await generateKeyPair('Ed25519'), listenPort: 0, listenAddresses: ['127.0.0.1'], mdns: false, dht: ${dht} });
    process.stdout.write(JSON.stringify({ loaded, services: Object.keys(node.services).sort() }));
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: new URL('../..', import.meta.url) });
  const result = JSON.parse(stdout) as { loaded: boolean; services: string[] };
  assert.equal(result.services.includes('dht'), dht, `the node ${dht ? 'has' : 'has no'} DHT service`);
  return result.loaded;
}

describe('kad-dht is loaded lazily', () => {
  it('a node without owner committees never imports it', async () => {
    assert.equal(await loadsDht(false), false);
  });

  it('a node with owner committees imports it and runs the DHT service', async () => {
    assert.equal(await loadsDht(true), true);
  });
});
