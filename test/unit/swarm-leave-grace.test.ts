// A connected peer whose announce stream ended stays a member for a grace, until its new stream's
// hello; a peer no longer connected, or one that broke the protocol, leaves at once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaveGrace } from '../../src/swarm/leave-grace.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function setup(connected: Set<string>) {
  const left: Array<[string, string]> = [];
  const grace = new LeaveGrace({ leave: (peerId, reason) => left.push([peerId, reason]), connected: (peerId) => connected.has(peerId), graceMs: 100 });
  return { grace, left };
}

describe('leave grace', () => {
  test('connected: the leave waits; a hello on the new stream cancels it', async () => {
    const { grace, left } = setup(new Set(['p']));
    grace.streamEnded('p', 'announce stream closed');
    assert.equal(grace.pending('p'), true);
    assert.deepEqual(left, []);
    grace.settled('p');
    await sleep(150);
    assert.deepEqual(left, []);
    assert.equal(grace.pending('p'), false);
  });

  test('connected but no new stream within the grace: it leaves then, saying so', async () => {
    const { grace, left } = setup(new Set(['p']));
    grace.streamEnded('p', 'announce stream failed: reset');
    await sleep(150);
    assert.deepEqual(left, [['p', 'announce stream failed: reset; no new stream within 0.1 s']]);
  });

  test('not connected, or a protocol violation: it leaves at once', () => {
    const { grace, left } = setup(new Set(['q']));
    grace.streamEnded('p', 'announce stream closed');
    grace.streamEnded('q', 'protocol violation: have before hello');
    assert.deepEqual(left, [['p', 'announce stream closed'], ['q', 'protocol violation: have before hello']]);
    assert.equal(grace.pending('q'), false);
  });

  test('stop drops what is pending', async () => {
    const { grace, left } = setup(new Set(['p']));
    grace.streamEnded('p', 'announce stream closed');
    grace.stop();
    await sleep(150);
    assert.deepEqual(left, []);
  });
});
