// Why a real host read a piece from the seed (bench:scale, real part): each piece a seed read
// covers is put down to one reason, judged at the moment of the read, against the "true"
// committee (the closest hosts to the blob's key among every host started) and the host's own view.
// Reasons, first that applies:
//   - asked as owner (true owner): a peer asked this host for the piece and this host is the owner
//     every host should agree on: the one read the design wants;
//   - asked as owner (not the true owner): the asker's committee or ranking was wrong;
//   - committee wait ran out: the committee gate let a seed choice through after 20 s without
//     progress on the blob (committee-gate.ts COMMITTEE_WAIT_MS);
//   - no committee: the host saw fewer peers than a committee, so every peer it sees owns pieces;
//   - owner by own view (true owner) / owner by own view only: the host ranks first for the piece
//     among its committee (its own pull);
//   - owners failed: the host is not the owner in its own view, the owners asked failed.
// A piece read again (the seed sent it before) is counted apart: those are the excess.
import { CommitteeGate } from '../../src/distribute/committee-gate.ts';
import { rankOwners } from '../../src/distribute/owners.ts';
import { PieceEngine } from '../../src/distribute/piece-engine.ts';
import { closestToKey } from '../../src/swarm/committee.ts';
import type { ByteRange } from '../../src/oci/index.ts';

export interface SeedReadHost {
  readonly name: string;
  readonly peerId: string;
  committee(digest: string): readonly string[] | undefined;
}

export interface SeedReasons {
  /** Pieces read from the seed, by reason (first reads and reads again together). */
  readonly pieces: Record<string, number>;
  /** Of those, pieces the seed had sent already. */
  readonly again: Record<string, number>;
  /** Hosts that read anything from the seed. */
  readers: number;
}

/** Pieces peers asked each host for as owner (by host name, from the partial's temp path), and when. */
const demanded = new Map<string, Set<number>>();
/** Pieces the committee gate let through after its wait ran out, by (peer id, piece). */
const gatePassed = new Set<string>();
/** Told of each pass of the gate's wait as it happens (gate-diagnosis.ts). */
let onGateWait: ((selfId: string, piece: number) => void) | undefined;
let installed = false;

export function watchGateWaits(listener: ((selfId: string, piece: number) => void) | undefined): void {
  onGateWait = listener;
}

function install(): void {
  if (installed) return;
  installed = true;
  const demand = PieceEngine.prototype.demand;
  PieceEngine.prototype.demand = function (this: PieceEngine, range, asker, reader) {
    const host = /shoal-scale-(h\d+)-/.exec(this.partial.tmpPath)?.[1];
    if (host !== undefined) {
      const set = demanded.get(host) ?? new Set<number>();
      for (let i = Math.floor(range.start / this.partial.pieceSize); i <= Math.floor(range.end / this.partial.pieceSize); i++) set.add(i);
      demanded.set(host, set);
    }
    return demand.call(this, range, asker, reader);
  };
  const allows = CommitteeGate.prototype.allows;
  CommitteeGate.prototype.allows = function (this: CommitteeGate, view, choice, committee, now, progressAt) {
    const allowed = allows.call(this, view, choice, committee, now, progressAt);
    // Allowed although the committee's ranking says otherwise: the wait ran out.
    if (allowed && choice.kind === 'seed' && !view.demanded) {
      const owner = rankOwners(view.digest, view.index, committee).find((id) => !view.exclude.has(id) && !view.failed.has(id));
      if (owner !== undefined && owner !== view.selfId) {
        gatePassed.add(`${view.selfId}/${view.index}`);
        onGateWait?.(view.selfId, view.index);
      }
    }
    return allowed;
  };
}

/** One piece a host read from the seed, when (ms on this process's clock since the epoch) and why. */
export interface SeedRead {
  readonly at: number;
  readonly name: string;
  readonly piece: number;
  readonly reason: string;
}

export class SeedReadLog {
  readonly #digest: string;
  readonly #pieceSize: number;
  readonly #committeeSize: number;
  #hosts: readonly SeedReadHost[] = [];
  #trueCommittee: readonly string[] | undefined;
  readonly reads: SeedRead[] = [];

  constructor(digest: string, pieceSize: number, committeeSize: number) {
    install();
    demanded.clear();
    gatePassed.clear();
    this.#digest = digest;
    this.#pieceSize = pieceSize;
    this.#committeeSize = committeeSize;
  }

  /** Every host started (`hosts` those of this process, `ids` all of the run's): the true committee is taken among all. */
  started(hosts: readonly SeedReadHost[], ids: readonly string[]): void {
    this.#hosts = hosts;
    this.#trueCommittee = this.#committeeSize > 0 && ids.length > this.#committeeSize ? closestToKey(this.#digest, ids, this.#committeeSize) : [...ids];
  }

  /** Host `name` opened `range` of the blob at the seed. */
  read(name: string, range: ByteRange | undefined, size: number): void {
    const host = this.#hosts.find((h) => h.name === name);
    if (host === undefined || this.#trueCommittee === undefined) return;
    const first = Math.floor((range?.start ?? 0) / this.#pieceSize);
    const last = Math.floor((range?.end ?? size - 1) / this.#pieceSize);
    const view = host.committee(this.#digest);
    for (let piece = first; piece <= last; piece++) {
      const trueOwner = rankOwners(this.#digest, piece, this.#trueCommittee)[0];
      this.reads.push({ at: Date.now(), name, piece, reason: this.#reason(host, piece, view, trueOwner) });
    }
  }

  #reason(host: SeedReadHost, piece: number, view: readonly string[] | undefined, trueOwner: string | undefined): string {
    const isTrue = host.peerId === trueOwner;
    if (demanded.get(host.name)?.has(piece)) return isTrue ? 'asked as owner (true owner)' : 'asked as owner (not the true owner)';
    if (gatePassed.has(`${host.peerId}/${piece}`)) return 'committee wait ran out';
    if (view === undefined) return 'no committee (sees fewer peers)';
    if (rankOwners(this.#digest, piece, view)[0] === host.peerId) return isTrue ? 'owner by own view (true owner)' : 'owner by own view only';
    return 'owners failed';
  }
}

/** The reads of every process, in time order: pieces by reason, and of those the ones the seed had sent already. */
export function seedReasons(reads: readonly SeedRead[]): SeedReasons {
  const result: SeedReasons = { pieces: {}, again: {}, readers: 0 };
  const sent = new Set<number>();
  const readers = new Set<string>();
  for (const { name, piece, reason } of [...reads].sort((a, b) => a.at - b.at)) {
    readers.add(name);
    result.pieces[reason] = (result.pieces[reason] ?? 0) + 1;
    if (sent.has(piece)) result.again[reason] = (result.again[reason] ?? 0) + 1;
    sent.add(piece);
  }
  result.readers = readers.size;
  return result;
}
