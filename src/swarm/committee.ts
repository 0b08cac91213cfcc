// Piece owners every host agrees on without a full mesh: each blob has a committee, the `size`
// hosts closest to the blob's key by Kademlia's XOR distance, found with the DHT's
// getClosestPeers (kad-dht) even when this host is not connected to them. Piece owners are then
// ranked among the committee alone (src/distribute/owners.ts), so two hosts that see different
// neighbours still name the same owner. A swarm this host sees whole (fewer peers than `size`)
// needs no committee: every member owns pieces, as on a small LAN.
import { createHash } from 'node:crypto';
import type { PeerId } from '@libp2p/interface';
import type { KadDHT } from '@libp2p/kad-dht';
import { peerIdFromString } from '@libp2p/peer-id';
import { digestToCid } from './keys.ts';

/** Hosts in a blob's owner committee (default of `owner-committee`). */
export const DEFAULT_COMMITTEE_SIZE = 16;
/**
 * A committee is looked up again after this long (hosts come and go). Sooner while it still
 * changes: the first lookups, made while routing tables fill, may stop at a local minimum, so
 * lookups repeat 2 s, 4 s, 8 s… apart, every peer they name adding up, back to 2 s whenever the
 * committee changed, until this long apart; then what was named is forgotten (peers gone).
 */
export const COMMITTEE_TTL_MS = 60_000;
const FIRST_REFRESH_MS = 2_000;
const MAX_ENTRIES = 1_000;
/** A lookup that takes longer keeps what it found by then. */
export const COMMITTEE_LOOKUP_TIMEOUT_MS = 5_000;

export interface CommitteesInit {
  readonly selfId: string;
  /** 0: no committee, every connected member owns pieces. */
  readonly size: number;
  /** Peer ids the DHT names for the key (peers that answered and the closer peers they named). */
  readonly lookup: (key: Uint8Array, signal: AbortSignal) => AsyncIterable<string>;
  /** Members connected now (said hello): candidates too. */
  readonly connected: () => readonly string[];
  /**
   * Members this host has heard of (discovery), connected or not. The swarm is small only while
   * both this and the connected members are fewer than a committee: a host that joins a large
   * swarm late, or finds its hosts full, connects to few, and ranking owners among those few
   * made it (and the hosts it asked) read pieces from the seed that the committee owned (at 128
   * real hosts, 9 of 27 seed reads).
   */
  readonly known?: () => number;
  /**
   * Every member this host has heard of (discovery, peer exchange, the DHT's answers): candidates
   * too. A lookup on a busy swarm can stop before it reaches the closest peers, and two hosts
   * whose lookups stopped at different places ranked different committees; the closest among a
   * larger set is never further from the true committee, and hosts that have heard of the same
   * members name the same committee whatever their lookups did (at 128 real hosts, 13 seed reads
   * came from hosts asked as owner by a committee that was not the true one).
   */
  readonly heardOf?: () => Iterable<string>;
  /** The committee of a blob was (re)computed: its members get dialled, so owners can be asked. */
  readonly found?: (digest: string, members: readonly string[]) => void;
  readonly now?: () => number;
}

interface Entry {
  members: readonly string[];
  /** Every peer the lookups named since the last full refresh. */
  named: Set<string>;
  /** When to look up again. */
  next: number;
  interval: number;
  looking: boolean;
  /** How many members this host had heard of when `members` was ranked. */
  heard: number;
}

export class OwnerCommittees {
  readonly #init: CommitteesInit;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #kadIds = new Map<string, Uint8Array>();
  readonly #aborts = new Set<AbortController>();

  constructor(init: CommitteesInit) {
    this.#init = init;
    this.#now = init.now ?? Date.now;
  }

  /**
   * The blob's committee: undefined when there is none (every member owns pieces: committees
   * off, or the swarm this host sees is smaller than a committee); empty while the first lookup
   * runs (the caller waits rather than guess an owner).
   */
  committee(digest: string): readonly string[] | undefined {
    const { size } = this.#init;
    const entry = this.#entries.get(digest);
    if (size <= 0 || (entry === undefined && this.#small(size))) return undefined;
    if (entry === undefined) {
      // Blobs fetched at once are few; forgetting them all now and then bounds the map.
      if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
      const fresh: Entry = { members: [], named: new Set(), next: 0, interval: FIRST_REFRESH_MS / 2, looking: false, heard: 0 };
      this.#entries.set(digest, fresh);
      this.#refresh(digest, fresh);
      return fresh.members;
    }
    if (!entry.looking && this.#now() >= entry.next) this.#refresh(digest, entry);
    // Heard of more members since the committee was ranked (between lookups): ranked again now,
    // which needs no lookup, so hosts converge as fast as they hear of each other.
    else if (entry.members.length > 0 && (this.#init.known?.() ?? 0) !== entry.heard) this.#rank(digest, entry);
    return entry.members;
  }

  /** The committee among every peer the lookups named and every member heard of; true when it changed. */
  #rank(digest: string, entry: Entry): boolean {
    entry.heard = this.#init.known?.() ?? 0;
    const members = this.closest(digest, [...entry.named, ...(this.#init.heardOf?.() ?? [])]);
    const changed = members.join() !== entry.members.join();
    entry.members = members;
    if (changed) this.#init.found?.(digest, members);
    return changed;
  }

  #small(size: number): boolean {
    return Math.max(this.#init.connected().length, this.#init.known?.() ?? 0) < size;
  }

  /** Blobs no longer fetched: forget their committees (looked up again if fetched again). */
  forget(digest: string): void {
    this.#entries.delete(digest);
  }

  stop(): void {
    for (const abort of this.#aborts) abort.abort(new Error('swarm stopped'));
    this.#aborts.clear();
    this.#entries.clear();
  }

  closest(digest: string, candidates: Iterable<string>): string[] {
    return closestToKey(digest, candidates, this.#init.size, (id) => this.#kadIdOf(id));
  }

  #refresh(digest: string, entry: Entry): void {
    entry.looking = true;
    if (entry.interval >= COMMITTEE_TTL_MS) entry.named.clear();
    const abort = new AbortController();
    this.#aborts.add(abort);
    const timer = setTimeout(() => abort.abort(new Error('committee lookup timed out')), COMMITTEE_LOOKUP_TIMEOUT_MS);
    timer.unref();
    const named = entry.named;
    for (const id of [this.#init.selfId, ...this.#init.connected()]) named.add(id);
    void (async () => {
      let answered = false;
      const answers = this.#init.lookup(committeeKey(digest), abort.signal)[Symbol.asyncIterator]();
      // Raced against the timeout: a query can sit waiting for its routing table whatever the signal.
      const aborted = new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason as Error), { once: true }));
      aborted.catch(() => undefined);
      try {
        for (let next = await Promise.race([answers.next(), aborted]); next.done !== true; next = await Promise.race([answers.next(), aborted])) {
          named.add(next.value);
          answered = true;
        }
      } catch {
        // Timed out or no route yet: what was named so far still counts if anyone answered.
      } finally {
        abort.abort();
        void answers.return?.(undefined)?.catch(() => undefined);
        clearTimeout(timer);
        this.#aborts.delete(abort);
      }
      entry.looking = false;
      if (this.#entries.get(digest) !== entry) return;
      const before = entry.members;
      const changed = this.#rank(digest, entry);
      // Unchanged, it is still told (its members kept and dialled for another while).
      if (!changed) this.#init.found?.(digest, entry.members);
      // Nobody answered (no route yet): the committee from this host's own view keeps the fetch
      // going, and the lookup is tried again soon.
      entry.interval = !answered || changed || before.length === 0 ? FIRST_REFRESH_MS : Math.min(entry.interval * 2, COMMITTEE_TTL_MS);
      entry.next = this.#now() + entry.interval;
    })();
  }

  #kadIdOf(peerId: string): Uint8Array {
    let id = this.#kadIds.get(peerId);
    if (id === undefined) {
      id = peerKadId(peerId);
      if (this.#kadIds.size > 10_000) this.#kadIds.clear();
      this.#kadIds.set(peerId, id);
    }
    return id;
  }
}

/** The `size` candidates closest to the blob's key, by XOR of SHA-256 ids as kad-dht measures it. */
export function closestToKey(digest: string, candidates: Iterable<string>, size: number, kadIdOfPeer: (peerId: string) => Uint8Array = peerKadId): string[] {
  const target = kadIdOf(committeeKey(digest));
  const scored = [...new Set(candidates)].map((id) => ({ id, distance: xor(kadIdOfPeer(id), target) }));
  scored.sort((a, b) => Buffer.compare(a.distance, b.distance) || (a.id < b.id ? -1 : 1));
  return scored.slice(0, size).map((s) => s.id);
}

function peerKadId(peerId: string): Uint8Array {
  return kadIdOf(peerIdFromString(peerId).toMultihash().bytes);
}

/** kad-dht's KadDHT class beyond its interface: the routing table, read for its closest peers. */
interface WithRoutingTable {
  readonly routingTable?: { closestPeers(kadId: Uint8Array, options?: { count?: number }): PeerId[] };
}

/**
 * Every peer the routing table holds close to the key, then every peer a closest-peers query heard
 * from or was told of: the committee is chosen among them.
 */
export async function* closestPeerIds(dht: KadDHT, key: Uint8Array, count: number, signal: AbortSignal): AsyncGenerator<string> {
  const table = (dht as WithRoutingTable).routingTable;
  for (const peer of table?.closestPeers(kadIdOf(key), { count: 2 * count }) ?? []) yield peer.toString();
  for await (const event of dht.getClosestPeers(key, { signal })) {
    if (event.name === 'FINAL_PEER') yield event.peer.id.toString();
    if (event.name === 'PEER_RESPONSE') {
      yield event.from.toString();
      for (const peer of event.closer) yield peer.id.toString();
    }
  }
}

/** The DHT key of a blob's committee: the multihash of its CID, as kad-dht keys content. */
export function committeeKey(digest: string): Uint8Array {
  return digestToCid(digest).multihash.bytes;
}

/** kad-dht's id of a key or peer: SHA-256 of its bytes (utils.ts convertBuffer). */
export function kadIdOf(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}
