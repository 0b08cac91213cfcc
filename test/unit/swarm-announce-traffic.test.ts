// What the swarm says, and how often: every announce message costs each peer a frame to decrypt,
// a window update to send back and a wake-up, so nothing is said twice when once tells the same.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, test } from 'node:test';
import { MemoryNetwork, MemorySwarm, piecesFromIndexes } from '../../src/swarm/index.ts';
import { LOAD_REPORT_MS } from '../../src/swarm/announcing-swarm.ts';
import { CountingSeed, meshed, startHost, type Host } from '../helpers/fake-peer.ts';

const MiB = 1024 * 1024;

describe('swarm: announce traffic', { timeout: 60_000 }, () => {
  const open: Array<{ close?: () => Promise<void>; stop?: () => Promise<void> }> = [];
  afterEach(async () => {
    for (const x of open.splice(0)) await (x.close?.() ?? x.stop?.());
  });

  test('a progress announcement carries the load as it is now, so the ping that would repeat it is not needed', async () => {
    const network = new MemoryNetwork();
    const inventory = () => [];
    const a = new MemorySwarm({ network, inventory, dataUrl: 'http://a.test:5002', pieceSize: MiB });
    const b = new MemorySwarm({ network, inventory, dataUrl: 'http://b.test:5002', pieceSize: MiB });
    open.push(a, b);
    await a.start();
    await b.start();
    await meshed([a, b]);
    const digest = `sha256:${'ab'.repeat(32)}`;
    a.reportLoad(3); // told at once: the first report
    a.reportLoad(5); // within LOAD_REPORT_MS of it: held back
    const heard = b.once('progress');
    a.announceProgress(digest, 4 * MiB, piecesFromIndexes(4 * MiB, MiB, [0]));
    await heard;
    // Well before the held-back ping could have gone out (LOAD_REPORT_MS), b knows the load is 5.
    assert.equal(b.holders(digest)[0]?.load, 5, `the progress message says load 5 (LOAD_REPORT_MS ${LOAD_REPORT_MS})`);
  });

  test('a fetching host tells its peers each change of the pieces it holds (arriving or done) once, never the same piece set twice in a row', async () => {
    const network = new MemoryNetwork();
    const seed = new CountingSeed();
    const content = randomBytes(5 * MiB + 1_000);
    const digest = seed.add(content);
    const hosts: Host[] = [];
    for (const name of ['a', 'b', 'c']) {
      const host = await startHost({ network, seed, name, fetcher: { pieceSize: MiB } });
      open.push(host);
      hosts.push(host);
    }
    const [a, b, c] = hosts as [Host, Host, Host];
    await meshed([a.swarm, b.swarm, c.swarm]);
    const told: string[] = [];
    c.swarm.on('progress', (event) => {
      if (event.peerId === a.swarm.peerId && event.digest === digest.value) told.push(`${Buffer.from(event.pieces.bitfield).toString('hex')}/${Buffer.from(event.pieces.done ?? []).toString('hex')}`);
    });
    assert.deepEqual(await a.fetch(digest), content);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the last messages arrive
    assert.ok(told.length > 0, 'a told its progress');
    assert.ok(told.every((t) => !t.endsWith('/')), `every progress message says which pieces are done: ${told.join(' ')}`);
    for (let i = 1; i < told.length; i++) assert.notEqual(told[i], told[i - 1], `progress message ${i} repeats the one before: ${told.join(' ')}`);
  });
});
