// A clock for judging other hosts by silence or slowness: time this process could not run does
// not count. A host whose event loop stalls (a long GC, a burst of hashing, or, in the scale
// bench, 64 hosts sharing one process: a timer there fired 1.4 s late at the median and 13 s at
// the 99th percentile) hears nothing while it stalls, since what its peers sent waits unread in
// its sockets; by the wall clock it then takes every peer for silent (expired after 60 s) and
// every owner for stuck (the committee gate's 20 s), and goes to the seed for pieces on their way.
// This clock advances with a timer, each tick by the time since the last one but at most
// MAX_STEP_MS: while the loop keeps up it runs with the wall clock, a stall counts as one step.
const TICK_MS = 100;
export const MAX_STEP_MS = 250;

let counted = 0;
let last = performance.now();
let timer: NodeJS.Timeout | undefined;

function tick(): void {
  const now = performance.now();
  counted += Math.min(now - last, MAX_STEP_MS);
  last = now;
}

/**
 * Milliseconds this process has been able to run since the clock started (an arbitrary origin:
 * only differences mean anything). Monotonic; between ticks it runs on by at most MAX_STEP_MS.
 */
export function steadyNow(): number {
  if (timer === undefined) {
    last = performance.now();
    timer = setInterval(tick, TICK_MS);
    timer.unref();
  }
  return counted + Math.min(performance.now() - last, MAX_STEP_MS);
}

/**
 * Calls `fire` once `ms` have passed on this clock: a timer that fires late or early because the
 * process stalled is set again for what is left. Returns its cancel.
 */
export function steadyTimeout(ms: number, fire: () => void): () => void {
  const start = steadyNow();
  let timer: NodeJS.Timeout;
  const check = (): void => {
    const left = ms - (steadyNow() - start);
    if (left <= 0) fire();
    else timer = setTimeout(check, left);
  };
  timer = setTimeout(check, ms);
  return () => clearTimeout(timer);
}
