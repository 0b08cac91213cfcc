// What `shoal preheat` prints for a job snapshot, on a terminal and in a pipe, including clusters
// too big for one line per node.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_NODE_LINES, PreheatDisplay } from '../../src/cli/preheat-display.ts';
import type { ClientIo } from '../../src/cli/terminal.ts';
import type { NodeProgress, PreheatJob } from '../../src/distribute/preheat-cluster.ts';

const MiB = 1024 * 1024;

function io(isTTY: boolean): ClientIo & { text: () => string } {
  let out = '';
  return { stdout: (t) => void (out += t), stderr: (t) => void (out += t), isTTY, columns: () => (isTTY ? 120 : undefined), color: false, env: {}, text: () => out };
}

function node(i: number, state: NodeProgress['state'], done = 0): NodeProgress {
  return { peerId: `peer${i}`, self: i === 0, url: `http://10.0.0.${i}:5002`, state, images: [], done, total: 10 * MiB, bytesPerSecond: MiB, ...(state === 'lost' ? { error: 'lost the node (x)', finishedAt: 2_000 } : {}), ...(state === 'done' ? { finishedAt: 2_000 } : {}) };
}

function job(nodes: NodeProgress[]): PreheatJob {
  return { id: 'j', images: ['app:1'], startedAt: 1_000, nodes, holdings: [] };
}

test('a terminal: one bar per node, redrawn in place with the cursor moved back up', () => {
  const out = io(true);
  const display = new PreheatDisplay(out, job([node(0, 'running', 5 * MiB), node(2, 'running', MiB)]));
  display.show(job([node(0, 'running', 5 * MiB), node(2, 'running', MiB)]));
  display.show(job([node(0, 'done', 10 * MiB), node(2, 'lost', MiB)]));
  display.finish(job([node(0, 'done', 10 * MiB), node(2, 'lost', MiB)]));
  const text = out.text();
  assert.match(text, /^preheating app:1 on 2 nodes \(this node, 10\.0\.0\.2\)\n/);
  assert.match(text, /\rthis node █+░+ {2}50% {2}5\.0 MiB \/ 10\.0 MiB/);
  assert.ok(text.includes('\x1b[2A'), 'moves up two lines to redraw');
  assert.match(text, /\x1b\[2A\rthis node █{10} done, 10\.0 MiB in 1\.0 s\x1b\[K\n\r10\.0\.0\.2 {2}lost: lost the node \(x\)\x1b\[K\n/);
  assert.match(text, /\n10\.0\.0\.2: lost: lost the node \(x\)\n$/, 'the whole failure once more at the end');
});

test(`a terminal and a big cluster: at most ${MAX_NODE_LINES} lines, failures kept on screen, the rest summed up`, () => {
  const nodes = Array.from({ length: 30 }, (_, i) => node(i, i === 29 ? 'lost' : i < 10 ? 'done' : 'running', MiB));
  const out = io(true);
  const display = new PreheatDisplay(out, job(nodes));
  display.show(job(nodes));
  const lines = out.text().split('\n').filter((line) => line.startsWith('\r'));
  assert.equal(lines.length, MAX_NODE_LINES);
  assert.match(lines[0]!, /10\.0\.0\.29 +lost/);
  assert.match(lines.at(-1)!, /^\r… 11 more nodes: 1 running, 10 done/);
  assert.match(out.text(), /^preheating app:1 on 30 nodes \(this node, 10\.0\.0\.1, .*10\.0\.0\.7 and 22 more\)\n/);
});

test('a pipe: plain lines, one per running node, or one for them all in a big cluster', () => {
  const small = io(false);
  new PreheatDisplay(small, job([node(0, 'running')])).show(job([node(0, 'running', 3 * MiB), node(1, 'done', 10 * MiB)]));
  assert.equal(small.text(), 'preheating app:1 on 1 node (this node)\nthis node  30%  3.0 MiB / 10.0 MiB  1.0 MiB/s  ETA 7s\n10.0.0.1: done, 10.0 MiB in 1.0 s\n');
  const big = io(false);
  const nodes = Array.from({ length: 25 }, (_, i) => node(i, 'running', MiB));
  new PreheatDisplay(big, job(nodes)).show(job(nodes));
  assert.match(big.text(), /\n25 nodes running {2}10% {2}25\.0 MiB \/ 250\.0 MiB {2}25\.0 MiB\/s {2}ETA 9s\n$/);
  assert.doesNotMatch(big.text(), /\x1b|\r/);
});
