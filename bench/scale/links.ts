// Modelled links: every host has an uplink and a downlink of fixed capacity, the seed an uplink.
// Each end shares its capacity among its flows by water-filling, a flow asking no more than an
// equal share of its other end (what that end would give it); the flow runs at the smaller of its
// two ends' allocations. Close to max-min fairness (TCP's rough outcome) without a global solve:
// re-rated when a flow starts or ends at an end or at an end one hop away.
import type { VirtualClock } from './clock.ts';

/** The seed's index in the link tables (hosts are 0..N-1). */
export const SEED = -1;

export interface Flow {
  readonly src: number;
  readonly dst: number;
  remaining: number;
  rate: number;
  up: number;
  down: number;
  updatedAt: number;
  version: number;
  done: boolean;
  readonly onDrained: () => void;
}

export class Links {
  readonly #clock: VirtualClock;
  readonly #hostCapacity: number;
  readonly #seedCapacity: number;
  readonly #leaving = new Map<number, Set<Flow>>();
  readonly #arriving = new Map<number, Set<Flow>>();
  /** Bytes each source sent (index SEED for the seed). */
  readonly sent = new Map<number, number>();

  constructor(clock: VirtualClock, hostBytesPerMs: number, seedBytesPerMs: number) {
    this.#clock = clock;
    this.#hostCapacity = hostBytesPerMs;
    this.#seedCapacity = seedBytesPerMs;
  }

  /** Starts moving `bytes` from src to dst; `onDrained` runs when the last byte has crossed. */
  start(src: number, dst: number, bytes: number, onDrained: () => void): Flow {
    const flow: Flow = { src, dst, remaining: bytes, rate: 0, up: 0, down: 0, updatedAt: this.#clock.now, version: 0, done: false, onDrained };
    this.sent.set(src, (this.sent.get(src) ?? 0) + bytes);
    setOf(this.#leaving, src).add(flow);
    setOf(this.#arriving, dst).add(flow);
    this.#rerate(src, dst);
    return flow;
  }

  /** Now: bytes/ms moving host to host, hosts sending to no peer (the seed left out), and bytes/ms leaving the seed. */
  usage(hosts: number): { peerRate: number; idleUploaders: number; seedRate: number } {
    let peerRate = 0;
    let busy = 0;
    let seedRate = 0;
    for (const f of this.#leaving.get(SEED) ?? []) seedRate += f.rate;
    for (const [src, flows] of this.#leaving) {
      if (src === SEED || flows.size === 0) continue;
      busy += 1;
      for (const f of flows) peerRate += f.rate;
    }
    return { peerRate, idleUploaders: hosts - busy, seedRate };
  }

  /** Now: bytes/ms leaving each host's uplink and arriving at each host's downlink (the seed left out). */
  hostRates(hosts: number): { up: number[]; down: number[] } {
    const up = new Array<number>(hosts).fill(0);
    const down = new Array<number>(hosts).fill(0);
    for (const [src, flows] of this.#leaving) for (const f of flows) if (src !== SEED) up[src]! += f.rate;
    for (const [dst, flows] of this.#arriving) for (const f of flows) down[dst]! += f.rate;
    return { up, down };
  }

  #end(flow: Flow): void {
    flow.done = true;
    this.#leaving.get(flow.src)!.delete(flow);
    this.#arriving.get(flow.dst)!.delete(flow);
    this.#rerate(flow.src, flow.dst);
    flow.onDrained();
  }

  /**
   * Flow counts changed at src's uplink and dst's downlink: those two ends share out again, and so
   * do the far ends of their flows (an equal share there asks another amount now).
   */
  #rerate(src: number, dst: number): void {
    const touched = new Set<Flow>();
    const ups = new Set<number>([src]);
    const downs = new Set<number>([dst]);
    for (const f of this.#leaving.get(src) ?? []) downs.add(f.dst);
    for (const f of this.#arriving.get(dst) ?? []) ups.add(f.src);
    for (const node of ups) this.#fill(this.#leaving.get(node), this.#capacity(node), (f) => this.#equal(this.#arriving, f.dst, this.#hostCapacity), 'up', touched);
    for (const node of downs) this.#fill(this.#arriving.get(node), this.#hostCapacity, (f) => this.#equal(this.#leaving, f.src, this.#capacity(f.src)), 'down', touched);
    for (const flow of touched) this.#rate(flow);
  }

  #capacity(node: number): number {
    return node === SEED ? this.#seedCapacity : this.#hostCapacity;
  }

  #equal(map: Map<number, Set<Flow>>, node: number, capacity: number): number {
    return capacity / map.get(node)!.size;
  }

  /** Water-filling: flows asking less than an equal share get what they ask; the rest share what is left. */
  #fill(flows: Set<Flow> | undefined, capacity: number, ask: (f: Flow) => number, side: 'up' | 'down', touched: Set<Flow>): void {
    if (flows === undefined || flows.size === 0) return;
    const asks = [...flows].map((f) => ({ f, ask: ask(f) })).sort((a, b) => a.ask - b.ask);
    let left = capacity;
    let k = asks.length;
    for (const { f, ask: wanted } of asks) {
      const share = left / k;
      const given = Math.min(wanted, share);
      f[side] = given;
      left -= given;
      k -= 1;
      touched.add(f);
    }
  }

  #rate(flow: Flow): void {
    const now = this.#clock.now;
    const rate = Math.min(flow.up, flow.down);
    if (rate === flow.rate) return;
    flow.remaining = Math.max(0, flow.remaining - flow.rate * (now - flow.updatedAt));
    flow.updatedAt = now;
    flow.rate = rate;
    const version = ++flow.version;
    this.#clock.after(flow.remaining / rate, () => {
      if (flow.version === version && !flow.done) this.#end(flow);
    });
  }
}

function setOf(map: Map<number, Set<Flow>>, key: number): Set<Flow> {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  return set;
}
