// Who holds what, who wants what, and the newest tags: the swarm's view of its peers. Pure state
// (no sockets, injectable clock), so the same table backs the libp2p Swarm and the MemorySwarm.
// A peer's entries live exactly as long as its announce stream: join() on hello, leave() when the
// stream or connection ends, so a peer that is gone is never offered as a source.
import type { Holder, InventoryEntry, PeerSummary, Penalty, PieceSet, TagRecord } from './types.ts';
import { steadyNow } from '../lib/steady-clock.ts';
import { Penalties } from './penalties.ts';
import { TagRecords } from './tag-records.ts';

/** Complete blobs plus in-progress ones a peer may announce; past that it is lying or broken. */
export const DEFAULT_MAX_ENTRIES_PER_PEER = 1_000_000;

export interface PeerTableInit {
  readonly now?: () => number;
  /** The clock silence is judged by (steady-clock.ts): `now` when that is given, else time this process could run. */
  readonly steadyNow?: () => number;
  readonly maxEntriesPerPeer?: number;
  readonly maxTags?: number;
}

export interface PeerJoin {
  readonly url: string | undefined;
  readonly addresses: readonly string[];
  readonly clockSkewMs: number;
  readonly pieceSize?: number | undefined;
}

interface PeerState {
  readonly peerId: string;
  url: string | undefined;
  addresses: readonly string[];
  readonly connectedAt: number;
  lastSeen: number;
  /** lastSeen on the steady clock. */
  heardAt: number;
  clockSkewMs: number;
  readonly pieceSize: number | undefined;
  synced: boolean;
  readonly blobs: Map<string, number>;
  readonly progress: Map<string, { size: number; pieces: PieceSet }>;
  readonly wants: Set<string>;
  /** Blobs whose progress the peer sends us as a neighbour (after its snapshot, which goes to everyone). */
  readonly tells: Set<string>;
  /** Piece requests the peer last said it serves; 0 until it says (older hosts never do). */
  load: number;
}

export class PeerTable {
  readonly #now: () => number;
  readonly #steadyNow: () => number;
  readonly #maxEntries: number;
  readonly #peers = new Map<string, PeerState>();
  /** digest → peers with the blob complete or in progress. */
  readonly #holders = new Map<string, Set<string>>();
  readonly #wanters = new Map<string, Set<string>>();
  readonly #tellers = new Map<string, Set<string>>();
  readonly #tags: TagRecords;
  readonly #penalties: Penalties;

  constructor(init: PeerTableInit = {}) {
    this.#now = init.now ?? Date.now;
    this.#steadyNow = init.steadyNow ?? init.now ?? steadyNow;
    this.#maxEntries = init.maxEntriesPerPeer ?? DEFAULT_MAX_ENTRIES_PER_PEER;
    this.#tags = new TagRecords(init.maxTags);
    this.#penalties = new Penalties(this.#now);
  }

  /** A peer said hello: it starts over with no entries (its snapshot follows). */
  join(peerId: string, info: PeerJoin): PeerSummary {
    this.leave(peerId);
    const now = this.#now();
    const state: PeerState = {
      peerId, url: info.url, addresses: info.addresses, connectedAt: now, lastSeen: now, heardAt: this.#steadyNow(), clockSkewMs: info.clockSkewMs, pieceSize: info.pieceSize,
      synced: false, blobs: new Map(), progress: new Map(), wants: new Set(), tells: new Set(), load: 0,
    };
    this.#peers.set(peerId, state);
    return summary(state);
  }

  /** Forgets the peer's entries; false when it was not joined. */
  leave(peerId: string): boolean {
    const state = this.#peers.get(peerId);
    if (state === undefined) return false;
    for (const digest of state.blobs.keys()) unindex(this.#holders, digest, peerId);
    for (const digest of state.progress.keys()) unindex(this.#holders, digest, peerId);
    for (const digest of state.wants) unindex(this.#wanters, digest, peerId);
    for (const digest of state.tells) unindex(this.#tellers, digest, peerId);
    this.#peers.delete(peerId);
    return true;
  }

  has(peerId: string): boolean {
    return this.#peers.has(peerId);
  }

  touch(peerId: string, clockSkewMs?: number): void {
    const state = this.#peers.get(peerId);
    if (state === undefined) return;
    state.lastSeen = this.#now();
    state.heardAt = this.#steadyNow();
    if (clockSkewMs !== undefined) state.clockSkewMs = clockSkewMs;
  }

  setLoad(peerId: string, load: number): void {
    const state = this.#peers.get(peerId);
    if (state !== undefined) state.load = load;
  }

  clockSkewMs(peerId: string): number {
    return this.#peers.get(peerId)?.clockSkewMs ?? 0;
  }

  markSynced(peerId: string): void {
    const state = this.#peers.get(peerId);
    if (state !== undefined) state.synced = true;
  }

  /** Records complete blobs; false (nothing recorded past the limit) when the peer exceeds it. */
  addBlobs(peerId: string, blobs: readonly InventoryEntry[]): boolean {
    const state = this.#peers.get(peerId);
    if (state === undefined) return true;
    for (const { digest, size } of blobs) {
      if (!state.blobs.has(digest) && state.blobs.size + state.progress.size >= this.#maxEntries) return false;
      state.blobs.set(digest, size);
      state.progress.delete(digest);
      this.#forgetTeller(state, digest);
      index(this.#holders, digest, peerId);
    }
    return true;
  }

  removeBlobs(peerId: string, digests: readonly string[]): void {
    const state = this.#peers.get(peerId);
    if (state === undefined) return;
    for (const digest of digests) {
      // A withdrawal covers a partial copy too (a fetch that was abandoned).
      const hadBlob = state.blobs.delete(digest);
      const hadPartial = state.progress.delete(digest);
      this.#forgetTeller(state, digest);
      if (hadBlob || hadPartial) unindex(this.#holders, digest, peerId);
    }
  }

  /** Records a partial blob; ignored when the peer already holds it complete. False past the limit. */
  setProgress(peerId: string, digest: string, size: number, pieces: PieceSet): boolean {
    const state = this.#peers.get(peerId);
    if (state === undefined || state.blobs.has(digest)) return true;
    if (!state.progress.has(digest) && state.blobs.size + state.progress.size >= this.#maxEntries) return false;
    state.progress.set(digest, { size, pieces });
    index(this.#holders, digest, peerId);
    return true;
  }

  /**
   * The peer sent its progress on a blob after its snapshot: it counts us among that blob's
   * neighbours (neighbours.ts tells it back). True the first time; the mark goes with the
   * progress (a complete or withdrawn blob) or the peer. Call after setProgress.
   */
  markTeller(peerId: string, digest: string): boolean {
    const state = this.#peers.get(peerId);
    if (state === undefined || !state.synced || !state.progress.has(digest) || state.tells.has(digest)) return false;
    state.tells.add(digest);
    index(this.#tellers, digest, peerId);
    return true;
  }

  /** Joined peers that send us their progress on the blob (markTeller). */
  tellers(digest: string): string[] {
    return [...(this.#tellers.get(digest) ?? [])];
  }

  #forgetTeller(state: PeerState, digest: string): void {
    if (state.tells.delete(digest)) unindex(this.#tellers, digest, state.peerId);
  }

  setWants(peerId: string, digests: readonly string[], wanted: boolean): boolean {
    const state = this.#peers.get(peerId);
    if (state === undefined) return true;
    for (const digest of digests) {
      if (wanted) {
        if (!state.wants.has(digest) && state.wants.size >= this.#maxEntries) return false;
        state.wants.add(digest);
        index(this.#wanters, digest, peerId);
      } else if (state.wants.delete(digest)) {
        unindex(this.#wanters, digest, peerId);
      }
    }
    return true;
  }

  /** Keeps the record if it is newer than the one known; true when it was. */
  offerTag(record: TagRecord): boolean {
    return this.#tags.offer(record);
  }

  newestTag(repository: string, tag: string): TagRecord | undefined {
    return this.#tags.newest(repository, tag);
  }

  tags(): IterableIterator<TagRecord> {
    return this.#tags.all();
  }

  /** Joined, unpenalised peers with a data URL that hold the blob; complete ones first. */
  holders(digest: string): Holder[] {
    const holders: Holder[] = [];
    for (const peerId of this.#holders.get(digest) ?? []) {
      const state = this.#peers.get(peerId);
      if (state?.url === undefined || this.isPenalised(peerId)) continue;
      const size = state.blobs.get(digest);
      if (size !== undefined) {
        holders.push({ peerId, url: state.url, size, complete: true, ...loadOf(state) });
        continue;
      }
      const partial = state.progress.get(digest);
      if (partial !== undefined) holders.push({ peerId, url: state.url, size: partial.size, complete: false, pieces: partial.pieces, ...loadOf(state) });
    }
    return holders.sort((a, b) => Number(b.complete) - Number(a.complete) || compare(a.peerId, b.peerId));
  }

  /**
   * Joined peers that want the blob, sorted. Penalties are deliberately ignored: the rendezvous
   * election needs every host to see the same set, and a penalty is one host's opinion.
   */
  wanters(digest: string): string[] {
    return [...(this.#wanters.get(digest) ?? [])].sort(compare);
  }

  /** Blobs some joined peer wants. */
  wanted(): string[] {
    return [...this.#wanters].filter(([, peers]) => peers.size > 0).map(([digest]) => digest);
  }

  peers(): PeerSummary[] {
    return [...this.#peers.values()].map(summary);
  }

  /** Peers silent for longer than `maxSilenceMs`, not counting time this process could not run. */
  silentPeers(maxSilenceMs: number): string[] {
    const cutoff = this.#steadyNow() - maxSilenceMs;
    return [...this.#peers.values()].filter((state) => state.heardAt < cutoff).map((state) => state.peerId);
  }

  /** A longer or harsher penalty replaces a shorter one; a milder one never shortens a ban. */
  penalise(peerId: string, reason: string, durationMs: number, refuseConnections = false): Penalty {
    return this.#penalties.penalise(peerId, reason, durationMs, refuseConnections);
  }

  isPenalised(peerId: string): boolean {
    return this.#penalties.active(peerId) !== undefined;
  }

  refusesConnections(peerId: string): boolean {
    return this.#penalties.active(peerId)?.refuseConnections === true;
  }

  penalties(): Penalty[] {
    return this.#penalties.all();
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function index(map: Map<string, Set<string>>, digest: string, peerId: string): void {
  let peers = map.get(digest);
  if (peers === undefined) map.set(digest, (peers = new Set()));
  peers.add(peerId);
}

function unindex(map: Map<string, Set<string>>, digest: string, peerId: string): void {
  const peers = map.get(digest);
  if (peers === undefined) return;
  peers.delete(peerId);
  if (peers.size === 0) map.delete(digest);
}

function summary(state: PeerState): PeerSummary {
  return {
    peerId: state.peerId, addresses: state.addresses, url: state.url, connectedAt: state.connectedAt, lastSeen: state.lastSeen,
    clockSkewMs: state.clockSkewMs, pieceSize: state.pieceSize, synced: state.synced, blobs: state.blobs.size,
  };
}

/** Only a load a peer reported: holders of hosts that never said (or are idle) look as they did before. */
function loadOf(state: PeerState): { load?: number } {
  return state.load > 0 ? { load: state.load } : {};
}
