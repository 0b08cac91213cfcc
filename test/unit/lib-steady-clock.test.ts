// The steady clock counts a stall of this process as one step at most: time the event loop could
// not run is not time a peer was silent or an owner slow.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_STEP_MS, steadyNow, steadyTimeout } from '../../src/lib/steady-clock.ts';

function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('a stall of the event loop counts as one step at most, and the clock never runs back', () => {
  const before = steadyNow();
  const wall = performance.now();
  block(1_500);
  const after = steadyNow();
  assert.ok(performance.now() - wall >= 1_500);
  assert.ok(after >= before, 'the clock ran back');
  assert.ok(after - before <= MAX_STEP_MS, `a 1.5 s stall counted ${after - before} ms`);
});

test('while the loop runs, the clock runs on', async () => {
  const before = steadyNow();
  // Timers that fire (however late on a busy machine) each count up to a step.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 120));
  assert.ok(steadyNow() > before, 'the clock stood still while the loop ran');
});

test('a steady timeout is not cut short by a stall of the process, and fires once its time ran on', async () => {
  let firedAt = 0;
  const armed = performance.now();
  steadyTimeout(400, () => (firedAt = performance.now()));
  block(1_000);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(firedAt, 0, 'fired on the wall clock, the stall counted in full');
  for (let waited = 0; firedAt === 0; waited += 20) {
    assert.ok(waited < 5_000, 'never fired');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(firedAt - armed >= 1_000);
  const cancelled = steadyTimeout(50, () => assert.fail('a cancelled timeout fired'));
  cancelled();
  await new Promise((resolve) => setTimeout(resolve, 150));
});
