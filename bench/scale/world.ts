// What the simulated hosts share: the clock, the links, the topology, and the swarm as each host
// sees it — what peers announced, delivered one latency after it was sent. Every announcement is
// counted as the real swarm would send it: one frame per connection (AnnounceStreams.broadcast).
import { MAX_BALANCED_MEMBERS, rankOwners } from '../../src/distribute/owners.ts';
import { MAX_OWNERS_ASKED, type Member } from '../../src/distribute/piece-choice.ts';
import type { Holder, PieceSet } from '../../src/swarm/index.ts';
import type { VirtualClock } from './clock.ts';
import { emptyCount, type ControlCount, type ControlKind, type FrameSizes } from './control.ts';
import type { HostEngine } from './engine-model.ts';
import type { Links } from './links.ts';
import type { Topology } from './topology.ts';

/** `lowest`: piece-engine.ts's order; `random`: each host its own shuffled order (design study). */
export type PieceOrder = 'lowest' | 'random';

export interface EngineParams {
  readonly maxActive: number;
  readonly maxPerPeer: number;
  readonly maxSeed: number;
  readonly busyBackoffMs: number;
  readonly tickMs: number;
  readonly passGapMs: number;
  readonly latencyMs: number;
  readonly seedRttMs: number;
  readonly loadReportMs: number;
  /** piece-spread.ts's wait (0: every host takes a piece from its only holder at once, as the engine does). */
  readonly spreadWaitMs: number;
}

/**
 * Members handed to choosePieceSource per piece: the top of the ranking. It stops at the first
 * owner it can ask, or after MAX_OWNERS_ASKED failed ones; excluded peers (askers) add to that.
 */
const OWNER_CANDIDATES = MAX_OWNERS_ASKED + 1;

export class World {
  readonly clock: VirtualClock;
  readonly links: Links;
  readonly topology: Topology;
  readonly params: EngineParams;
  readonly sizes: FrameSizes;
  readonly #orders: readonly (readonly number[])[];
  /** Hosts whose want the others have heard (and no unwant yet). */
  readonly #wants: Uint8Array;
  readonly digest: string;
  readonly size: number;
  readonly pieceSize: number;
  readonly pieceCount: number;
  readonly ids: readonly string[];
  readonly hosts: HostEngine[] = [];
  readonly control: ControlCount[];
  readonly #index: Map<string, number>;
  readonly #visible: Uint8Array[];
  readonly #holder: Holder[];
  readonly #offering: number[][];
  readonly #ranking = new Map<number, number[]>();
  readonly #candidates = new Map<string, ReadonlyMap<string, Member>>();
  /** The members each host counts as owners (in a full mesh, one list for all, under 0). */
  readonly #owners = new Map<number, readonly number[]>();
  /** Full mesh: the holder list of each piece, valid while #version is unchanged. */
  readonly #holders = new Map<number, { version: number; list: Holder[] }>();
  #version = 0;
  readonly #hungry = new Set<number>();
  #pokePending = false;
  /** Full mesh: frames and bytes broadcast in all, and by each host (what the others received). */
  #meshFrames = 0;
  #meshBytes = 0;
  readonly #broadcasts = new Map<number, { frames: number; bytes: number }>();
  readonly #load: Array<{ now: number; sent: number; sentAt: number; timer: boolean }>;
  /** Whether this blob's world counts the hosts' load pings (one per host, whatever the blobs). */
  readonly #countsLoad: boolean;

  constructor(init: { clock: VirtualClock; links: Links; topology: Topology; params: EngineParams; sizes: FrameSizes; digest: string; size: number; pieceSize: number; ids: readonly string[]; order: PieceOrder; random: () => number; countsLoad?: boolean }) {
    this.clock = init.clock;
    this.links = init.links;
    this.topology = init.topology;
    this.params = init.params;
    this.sizes = init.sizes;
    this.digest = init.digest;
    this.size = init.size;
    this.pieceSize = init.pieceSize;
    this.ids = init.ids;
    this.#countsLoad = init.countsLoad ?? true;
    this.pieceCount = Math.ceil(init.size / init.pieceSize);
    const n = init.ids.length;
    this.#index = new Map(init.ids.map((id, i) => [id, i]));
    this.control = Array.from({ length: n }, emptyCount);
    this.#visible = Array.from({ length: n }, () => new Uint8Array(this.pieceCount));
    const pieces = (): PieceSet => ({ pieceSize: init.pieceSize, bitfield: new Uint8Array(Math.ceil(this.pieceCount / 8)) });
    this.#holder = init.ids.map((peerId, i) => ({ peerId, url: `sim://${i}`, size: init.size, complete: false, pieces: pieces() }));
    this.#offering = Array.from({ length: this.pieceCount }, () => []);
    this.#wants = new Uint8Array(n);
    this.#load = Array.from({ length: n }, () => ({ now: 0, sent: 0, sentAt: Number.NEGATIVE_INFINITY, timer: false }));
    const lowest = Array.from({ length: this.pieceCount }, (_, i) => i);
    this.#orders = init.ids.map(() => (init.order === 'lowest' ? lowest : shuffled(lowest, init.random)));
  }

  /** The order a host fetches its own pieces in: shoal's engine goes lowest first. */
  pieceOrder(host: number): readonly number[] {
    return this.#orders[host]!;
  }

  /**
   * The peers `host` knows want the blob and whose progress (if any) lacks `piece`: what the
   * engine finds in swarm.wanters and swarm.holders, for piece-spread.ts leaveToOther.
   */
  lackingFor(host: number, piece: number): string[] {
    const out: string[] = [];
    const heard = this.topology.connections?.[host];
    const each = (peer: number): void => {
      if (peer !== host && this.#wants[peer] === 1 && this.#visible[peer]![piece] === 0) out.push(this.ids[peer]!);
    };
    if (heard === undefined) for (let peer = 0; peer < this.ids.length; peer++) each(peer);
    else for (const peer of heard) each(peer);
    return out;
  }

  indexOf(peerId: string): number {
    return this.#index.get(peerId)!;
  }

  pieceLength(index: number): number {
    return Math.min(this.pieceSize, this.size - index * this.pieceSize);
  }

  /**
   * The peers offering `piece` that `host` has heard of: the holder list choosePieceSource would
   * filter, already narrowed to the piece. (A host is never among the holders of a piece it
   * chooses a source for: it announces only pieces it has or is fetching from the seed.)
   */
  holdersFor(host: number, piece: number): Holder[] {
    const connections = this.topology.connections?.[host];
    if (connections === undefined) {
      const cached = this.#holders.get(piece);
      if (cached !== undefined && cached.version === this.#version) return cached.list;
      const list = this.#offering[piece]!.map((peer) => this.#holder[peer]!);
      this.#holders.set(piece, { version: this.#version, list });
      return list;
    }
    const out: Holder[] = [];
    // Progress is heard only from the peers that tell this host (bounded); complete holders ('have') from every connection.
    const heard = this.topology.hears?.[host];
    for (const peer of heard ?? connections) if (this.#visible[peer]![piece] === 1) out.push(this.#holder[peer]!);
    if (heard !== undefined) for (const peer of connections) if (this.#holder[peer]!.complete && !heard.includes(peer)) out.push(this.#holder[peer]!);
    return out;
  }

  /**
   * The members `host` counts as owners of `piece`, as choosePieceSource gets them. Up to
   * MAX_BALANCED_MEMBERS, all of them: owners are balanced over the whole set (owners.ts
   * ownerRanking), which choosePieceSource computes itself. Above, the first of the piece's
   * rendezvous ranking (rankOwners over every host) that `host` counts.
   */
  ownerMembers(host: number, piece: number, extra: number): ReadonlyMap<string, Member> {
    const own = this.#ownerSet(host);
    if (own.length <= MAX_BALANCED_MEMBERS) return this.#allOwners(host, own);
    const want = OWNER_CANDIDATES + extra;
    const key = `${this.topology.mode === 'mesh' ? 'all' : host}/${piece}/${want}`;
    let members = this.#candidates.get(key);
    if (members !== undefined) return members;
    let ranking = this.#ranking.get(piece);
    if (ranking === undefined) this.#ranking.set(piece, (ranking = rankOwners(this.digest, piece, this.ids).map((id) => this.indexOf(id))));
    const picked: number[] = [];
    for (const member of ranking) {
      if (this.topology.ownsAmong(host, member)) picked.push(member);
      if (picked.length === want) break;
    }
    members = this.#memberMap(picked);
    if (extra === 0) this.#candidates.set(key, members);
    return members;
  }

  /**
   * The engine's balanceOwners for `host`: with no committee, and only when ownerMembers hands over
   * every member (above MAX_BALANCED_MEMBERS the engine ranks by plain rendezvous, whose order the
   * top of the ranking keeps).
   */
  ownersBalanced(host: number): boolean {
    return this.topology.committeeIds === undefined && this.#ownerSet(host).length <= MAX_BALANCED_MEMBERS;
  }

  /** The hosts `host` counts among the members that own pieces (self included). */
  #ownerSet(host: number): readonly number[] {
    const key = this.topology.mode === 'mesh' ? 0 : host;
    let set = this.#owners.get(key);
    if (set === undefined) this.#owners.set(key, (set = this.ids.map((_, m) => m).filter((m) => this.topology.ownsAmong(host, m))));
    return set;
  }

  #allOwners(host: number, own: readonly number[]): ReadonlyMap<string, Member> {
    const key = `${this.topology.mode === 'mesh' ? 'all' : host}/every`;
    let members = this.#candidates.get(key);
    if (members === undefined) this.#candidates.set(key, (members = this.#memberMap(own)));
    return members;
  }

  #memberMap(hosts: readonly number[]): ReadonlyMap<string, Member> {
    return new Map(hosts.map((m) => [this.ids[m]!, { peerId: this.ids[m]!, url: `sim://${m}` }]));
  }

  /** Pieces at least one host holds or has arriving (told to its peers). */
  swarmPieces(): number {
    return this.#offering.filter((holders) => holders.length > 0).length;
  }

  hungerChanged(host: HostEngine): void {
    if (host.hungry) this.#hungry.add(host.index);
    else this.#hungry.delete(host.index);
  }

  /** want / have / unwant: counted; `have` makes the host a complete holder to its peers. */
  tell(host: HostEngine, kind: 'want' | 'have' | 'unwant'): void {
    this.#send(host.index, kind, this.sizes[kind]);
    if (kind !== 'have') {
      this.clock.after(this.params.latencyMs, () => (this.#wants[host.index] = kind === 'want' ? 1 : 0));
      return;
    }
    this.clock.after(this.params.latencyMs, () => {
      this.#holder[host.index] = { ...this.#holder[host.index]!, complete: true };
      this.#changed(host.index);
    });
  }

  tellProgress(host: HostEngine, pieces: readonly number[]): void {
    const h = host.index;
    this.#send(h, 'progress', this.sizes.progress(this.#load[h]!.sent));
    if (pieces.length === 0) return;
    this.clock.after(this.params.latencyMs, () => {
      const bitfield = this.#holder[h]!.pieces!.bitfield;
      for (const p of pieces) {
        if (this.#visible[h]![p] === 1) continue;
        this.#visible[h]![p] = 1;
        bitfield[p >> 3]! |= 0x80 >> (p & 7);
        this.#offering[p]!.push(h);
      }
      this.#changed(h);
    });
  }

  /** AnnouncingSwarm.reportLoad: a ping with the new load, at most every LOAD_REPORT_MS, the last one always. */
  loadChanged(host: HostEngine, load: number): void {
    const state = this.#load[host.index]!;
    state.now = load;
    if (state.timer) return;
    const wait = state.sentAt + this.params.loadReportMs - this.clock.now;
    if (wait > 0) {
      state.timer = true;
      this.clock.after(wait, () => {
        state.timer = false;
        this.loadChanged(host, state.now);
      });
      return;
    }
    if (load === state.sent) return;
    state.sent = load;
    state.sentAt = this.clock.now;
    if (this.#countsLoad) this.#send(host.index, 'load', this.sizes.ping(load));
    this.clock.after(this.params.latencyMs, () => {
      const { load: _old, ...holder } = this.#holder[host.index]!;
      this.#holder[host.index] = load > 0 ? { ...holder, load } : holder;
      this.#changed(host.index);
    });
  }

  /** Frames each host received, once the run is over (full mesh: everyone else's broadcasts). */
  finishCounts(): void {
    if (this.topology.connections !== undefined) return;
    for (const [h, count] of this.control.entries()) {
      const own = this.#broadcasts.get(h) ?? { frames: 0, bytes: 0 };
      count.receivedFrames = this.#meshFrames - own.frames;
      count.receivedBytes = this.#meshBytes - own.bytes;
    }
  }

  /** One message to every connection (progress and load: to the peers the host tells), a frame each. */
  #send(h: number, kind: ControlKind, bytes: number): void {
    const told = kind === 'progress' || kind === 'load' ? this.topology.tells?.[h] : undefined;
    const fanout = told?.length ?? this.topology.connectionCount(h);
    const count = this.control[h]!;
    count.sentFrames += fanout;
    count.sentBytes += fanout * bytes;
    count.byKind[kind] += fanout;
    count.messages[kind] += 1;
    const connections = this.topology.connections?.[h];
    if (connections === undefined) {
      this.#meshFrames += 1;
      this.#meshBytes += bytes;
      const own = this.#broadcasts.get(h) ?? { frames: 0, bytes: 0 };
      own.frames += 1;
      own.bytes += bytes;
      this.#broadcasts.set(h, own);
      return;
    }
    for (const peer of told ?? connections) {
      const received = this.control[peer]!;
      received.receivedFrames += 1;
      received.receivedBytes += bytes;
    }
  }

  /** The engine's poke on swarm news: hosts that hear `peer` and are waiting for a source look again. */
  #changed(peer: number): void {
    this.#version += 1;
    if (this.topology.connections === undefined) {
      if (this.#pokePending) return;
      this.#pokePending = true;
      this.clock.after(0, () => {
        this.#pokePending = false;
        for (const h of this.#hungry) this.hosts[h]!.wake();
      });
      return;
    }
    for (const h of this.topology.connections[peer]!) if (this.#hungry.has(h)) this.hosts[h]!.wake();
  }
}

function shuffled(items: readonly number[], random: () => number): number[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
