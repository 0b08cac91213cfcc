// The simulation's virtual clock: a binary heap of events by time, ties broken by insertion order,
// so a run is a pure function of its seed. Nothing here reads the wall clock.

interface Event {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

export class VirtualClock {
  #now = 0;
  #seq = 0;
  readonly #heap: Event[] = [];
  events = 0;

  get now(): number {
    return this.#now;
  }

  /** Runs `run` `delayMs` from now (never in the past). */
  after(delayMs: number, run: () => void): void {
    this.#push({ at: this.#now + Math.max(0, delayMs), seq: this.#seq++, run });
  }

  /** Runs events in order until none is left, `until` returns true, or time passes `limitMs`. */
  runUntil(until: () => boolean, limitMs: number): void {
    while (this.#heap.length > 0 && !until()) {
      const event = this.#pop();
      if (event.at > limitMs) {
        this.#now = limitMs;
        return;
      }
      this.#now = event.at;
      this.events += 1;
      event.run();
    }
  }

  #push(event: Event): void {
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): Event {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A small seeded PRNG (mulberry32): the same seed gives the same run. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
