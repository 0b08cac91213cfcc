// Who is connected to whom, and whom a host may take as a piece's owner, in the three configurations
// the simulation runs:
// - `mesh`: shoal with every host connected to every other (a cap above the swarm): every
//   announcement to everyone, owners by rendezvous over all members.
// - `capped`: shoal without committees (owner-committee 0) under max-peer-connections: hosts dial
//   until the cap, refuse past it. A host sees, tells and ranks only its connections.
// - `bounded`: shoal as it is now under a cap: neighbours dialled up to the cap less the committee
//   reserve (connection-budget.ts committeeReserve), then every host dials the blob's committee
//   members while both ends have room under the cap; the committee is closestToKey (committee.ts)
//   over every host, as a converged DHT lookup gives it; progress and load go to blobNeighbours
//   (neighbours.ts: each host's own choice and the peers that tell it); owners are ranked among
//   the connected committee members and the engine's committeeAllows gate applies (piece-engine.ts).
import { createHash } from 'node:crypto';
import { closestToKey, DEFAULT_COMMITTEE_SIZE } from '../../src/swarm/committee.ts';
import { committeeReserve } from '../../src/swarm/connection-budget.ts';
import { blobNeighbours } from '../../src/swarm/neighbours.ts';

export type Mode = 'mesh' | 'capped' | 'bounded';

export interface TopologyInit {
  readonly mode: Mode;
  readonly hosts: number;
  readonly cap: number;
  /** bounded: peers told of a host's progress on the blob (the swarm's blobNeighbours). */
  readonly neighbours: number;
  /** bounded: hosts in the owner committee (owner-committee). */
  readonly committee: number;
}

export class Topology {
  readonly mode: Mode;
  /** Connections of each host; undefined in `mesh` (everyone). */
  readonly connections: readonly (readonly number[])[] | undefined;
  readonly #connected: readonly Set<number>[] | undefined;
  readonly #committee: Set<number> | undefined;
  /** The committee's ids, as the engine's gate takes them. */
  readonly committeeIds: readonly string[] | undefined;
  /** bounded: whom each host tells of its progress and load; and whose it hears. */
  readonly tells: readonly (readonly number[])[] | undefined;
  readonly hears: readonly (readonly number[])[] | undefined;
  readonly #hosts: number;

  constructor(init: TopologyInit, digest: string, ids: readonly string[], random: () => number) {
    this.mode = init.mode;
    this.#hosts = init.hosts;
    if (init.mode === 'mesh') return;
    const sets = Array.from({ length: init.hosts }, () => new Set<number>());
    if (init.mode === 'capped') capped(sets, init.cap, random);
    else {
      const size = init.committee || DEFAULT_COMMITTEE_SIZE;
      capped(sets, init.cap - committeeReserve(init.cap, size), random);
      const index = new Map(ids.map((id, i) => [id, i]));
      this.committeeIds = closestToKey(digest, ids, size, kadIdOfSimId);
      this.#committee = new Set(this.committeeIds.map((id) => index.get(id)!));
      // Every host dials the committee (kept connections), where both ends have room under the cap.
      for (const a of shuffled(init.hosts, random)) {
        for (const b of this.#committee) {
          if (a !== b && !sets[a]!.has(b) && sets[a]!.size < init.cap && sets[b]!.size < init.cap) {
            sets[a]!.add(b);
            sets[b]!.add(a);
          }
        }
      }
      // Everyone pulls the blob: every connection is a wanter. Each host's own choice first; then,
      // as the swarm learns who sends it progress, every host tells back the peers that tell it.
      // One round settles it: a peer told back already held the host in its own choice.
      const tellsBy = (tellers: readonly (readonly number[])[]) =>
        sets.map((set, h) => {
          const peers = [...set].map((i) => ids[i]!);
          return blobNeighbours(ids[h]!, digest, peers, peers, init.neighbours, tellers[h]!.map((i) => ids[i]!)).map((id) => index.get(id)!);
        });
      const own = tellsBy(sets.map(() => []));
      this.tells = tellsBy(hearers(own));
      this.hears = hearers(this.tells);
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
    if (this.mode === 'bounded') return this.#committee!.has(member) && (member === host || this.sees(host, member));
    return member === host || this.sees(host, member);
  }

}

/** Whom each host hears from, given whom each tells. */
function hearers(tells: readonly (readonly number[])[]): number[][] {
  const hears = tells.map(() => [] as number[]);
  tells.forEach((to, h) => to.forEach((peer) => hears[peer]!.push(h)));
  return hears;
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

/** The simulated hosts' ids stand for peer ids: their kad id is the SHA-256 of the id text. */
function kadIdOfSimId(id: string): Uint8Array {
  return createHash('sha256').update(id).digest();
}

function shuffled(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}
