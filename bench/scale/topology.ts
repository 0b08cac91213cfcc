// Who is connected to whom, and whom a host may take as a piece's owner, in the three configurations
// the simulation runs:
// - `mesh`: shoal today. Every host connected to every other, every announcement to everyone, owners
//   by rendezvous over all members.
// - `capped`: shoal today under max-peer-connections: hosts dial until the cap, refuse past it. A
//   host sees, tells and ranks only its connections (its membership view is partial).
// - `bounded`: a DESIGN STUDY, not shoal's behaviour: per-blob neighbour sets of bounded degree
//   (progress goes to neighbours only, BitTorrent-style) and owners among a bounded committee every
//   host agrees on (the DHT's closest peers to the blob key, here the top of the same rendezvous
//   ranking); a host asks an owner only if it is connected to it, else waits for its neighbours.
import { rankOwners } from '../../src/distribute/owners.ts';

export type Mode = 'mesh' | 'capped' | 'bounded';

export interface TopologyInit {
  readonly mode: Mode;
  readonly hosts: number;
  readonly cap: number;
  /** bounded: neighbours per host per blob (about; the set is symmetric). */
  readonly neighbours: number;
  /** bounded: hosts in the owner committee. */
  readonly committee: number;
}

export class Topology {
  readonly mode: Mode;
  /** Connections of each host; undefined in `mesh` (everyone). */
  readonly connections: readonly (readonly number[])[] | undefined;
  readonly #connected: readonly Set<number>[] | undefined;
  readonly #committee: Set<number> | undefined;
  readonly #hosts: number;

  constructor(init: TopologyInit, digest: string, ids: readonly string[], random: () => number) {
    this.mode = init.mode;
    this.#hosts = init.hosts;
    if (init.mode === 'mesh') return;
    const sets = Array.from({ length: init.hosts }, () => new Set<number>());
    if (init.mode === 'capped') capped(sets, init.cap, random);
    else {
      neighbourSets(sets, Math.ceil(init.neighbours / 2), random);
      const index = new Map(ids.map((id, i) => [id, i]));
      this.#committee = new Set(rankOwners(digest, -1, ids).slice(0, init.committee).map((id) => index.get(id)!));
      for (const a of this.#committee) for (const b of this.#committee) if (a !== b) sets[a]!.add(b);
    }
    this.#connected = sets;
    this.connections = sets.map((s) => [...s].sort((a, b) => a - b));
  }

  connectionCount(host: number): number {
    return this.connections?.[host]!.length ?? this.#hosts - 1;
  }

  sees(host: number, other: number): boolean {
    return this.#connected === undefined ? host !== other : this.#connected[host]!.has(other);
  }

  /** Whether `host` counts `member` among the members that own pieces (self included). */
  ownsAmong(host: number, member: number): boolean {
    if (this.mode === 'bounded') return this.#committee!.has(member);
    return member === host || this.sees(host, member);
  }

  /** bounded: an owner is asked only over a connection the host has. */
  mayAsk(host: number, owner: number): boolean {
    return this.mode !== 'bounded' || this.sees(host, owner);
  }
}

/** Hosts in random order dial random others until they hold `cap` connections; a host at the cap refuses. */
function capped(sets: Set<number>[], cap: number, random: () => number): void {
  const n = sets.length;
  for (const a of shuffled(n, random)) {
    for (let tries = 0; sets[a]!.size < cap && tries < 20 * cap; tries++) {
      const b = Math.floor(random() * n);
      if (b === a || sets[b]!.size >= cap) continue;
      sets[a]!.add(b);
      sets[b]!.add(a);
    }
  }
}

/** Each host links to `half` random others; links go both ways, so degrees are about 2 × half. */
function neighbourSets(sets: Set<number>[], half: number, random: () => number): void {
  const n = sets.length;
  for (let a = 0; a < n; a++) {
    for (let picked = 0, tries = 0; picked < Math.min(half, n - 1) && tries < 20 * half; tries++) {
      const b = Math.floor(random() * n);
      if (b === a || sets[a]!.has(b)) continue;
      sets[a]!.add(b);
      sets[b]!.add(a);
      picked += 1;
    }
  }
}

function shuffled(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}
