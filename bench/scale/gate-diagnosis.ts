// Where the committee gate's 20 s go (bench:scale, real part): at each moment the gate lets a
// host go to the seed because its wait ran out (seed-reasons.ts), what that host saw against
// what was true. The host saw no holder of the piece and could not ask its owner, or it would not
// have waited. Whether the owner was connected and in its table, how many hosts really held the
// piece then (announced progress or the whole blob), how many of those were in the waiting host's
// table, and of those how many counted it among the blob's neighbours (so told it their progress):
// a protocol that keeps holders from a host shows here as holders in its table that do not tell it;
// a starved harness as holders that do tell it and whose progress had not been read yet.
import { blobNeighbours, DEFAULT_BLOB_NEIGHBOURS } from '../../src/swarm/neighbours.ts';
import { hasPiece, type Swarm } from '../../src/swarm/index.ts';
import type { PeerTable } from '../../src/swarm/peer-table.ts';
import type { Announcements } from '../../src/swarm/announcements.ts';

export interface GateWait {
  /** Seconds since the pull started. */
  readonly atS: number;
  readonly piece: number;
  /** Peers in the waiting host's table, and its open connections. */
  readonly peers: number;
  /** Committee members in its own view, of them in its table, and members it shares with the true committee. */
  readonly committee: number;
  readonly committeeInTable: number;
  readonly committeeAgrees: number;
  /** Whether the piece's true owner was in its table. */
  readonly ownerInTable: boolean;
  /** Hosts that held the piece (announced), of them in its table, of those that count it as a neighbour of the blob. */
  readonly holders: number;
  readonly holdersInTable: number;
  readonly holdersTelling: number;
  /** Holders in its table whose progress it had read with the piece in it (should be 0: it waited). */
  readonly holdersSeen: number;
}

export interface DiagnosedHost {
  readonly swarm: Swarm;
  /** Resolved: the host holds the whole blob. */
  readonly done: boolean;
}

interface Internals {
  readonly table: PeerTable;
  readonly announcements: Announcements;
}

function internals(swarm: Swarm): Internals {
  return swarm as unknown as Internals;
}

export class GateDiagnosis {
  readonly #digest: string;
  readonly #started: number;
  readonly #hosts: readonly DiagnosedHost[];
  readonly #trueCommittee: readonly string[];
  readonly #owner: (piece: number) => string | undefined;
  readonly waits: GateWait[] = [];

  constructor(init: { digest: string; hosts: readonly DiagnosedHost[]; trueCommittee: readonly string[]; owner: (piece: number) => string | undefined }) {
    this.#digest = init.digest;
    this.#started = performance.now();
    this.#hosts = init.hosts;
    this.#trueCommittee = init.trueCommittee;
    this.#owner = init.owner;
  }

  /** Host `selfId` got past the gate's wait for `piece`. */
  record(selfId: string, piece: number): void {
    const host = this.#hosts.find((h) => h.swarm.peerId === selfId);
    if (host === undefined) return;
    const { table } = internals(host.swarm);
    const inTable = new Set(table.peers().map((p) => p.peerId));
    const view = host.swarm.ownerCommittee(this.#digest) ?? [];
    const truth = new Set(this.#trueCommittee);
    const owner = this.#owner(piece);
    const holders = this.#hosts.filter((h) => h !== host && this.#holds(h, piece));
    const near = holders.filter((h) => inTable.has(h.swarm.peerId));
    const telling = near.filter((h) => this.#tells(h.swarm, selfId));
    const seen = new Set(host.swarm.holders(this.#digest).filter((h) => h.complete || (h.pieces !== undefined && hasPiece(h.pieces, piece))).map((h) => h.peerId));
    this.waits.push({
      atS: (performance.now() - this.#started) / 1000,
      piece,
      peers: inTable.size,
      committee: view.length,
      committeeInTable: view.filter((id) => inTable.has(id)).length,
      committeeAgrees: view.filter((id) => truth.has(id)).length,
      ownerInTable: owner !== undefined && inTable.has(owner),
      holders: holders.length,
      holdersInTable: near.length,
      holdersTelling: telling.length,
      holdersSeen: near.filter((h) => seen.has(h.swarm.peerId)).length,
    });
  }

  #holds(host: DiagnosedHost, piece: number): boolean {
    if (host.done) return true;
    const progress = internals(host.swarm).announcements.progressOf(this.#digest);
    return progress?.type === 'progress' && hasPiece(progress.pieces, piece);
  }

  /** Whether `holder` sends its progress on the blob to `peerId` (neighbour-routing.ts's choice, recomputed). */
  #tells(holder: Swarm, peerId: string): boolean {
    const { table } = internals(holder);
    const connected = table.peers().map((p) => p.peerId);
    return blobNeighbours(holder.peerId, this.#digest, connected, table.wanters(this.#digest), DEFAULT_BLOB_NEIGHBOURS, table.tellers(this.#digest)).includes(peerId);
  }
}

/** Medians and counts over the waits (of every process), for the report. */
export function summariseWaits(w: readonly GateWait[]): Record<string, number> {
  if (w.length === 0) return { waits: 0 };
  const median = (pick: (x: GateWait) => number) => {
    const sorted = w.map(pick).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  };
  return {
    waits: w.length,
    'at s (median)': median((x) => x.atS),
    'peers in table (median)': median((x) => x.peers),
    'committee in own view (median)': median((x) => x.committee),
    'committee in table (median)': median((x) => x.committeeInTable),
    'committee agrees with true (median)': median((x) => x.committeeAgrees),
    'owner in table (count)': w.filter((x) => x.ownerInTable).length,
    'hosts holding the piece (median)': median((x) => x.holders),
    'of them in table (median)': median((x) => x.holdersInTable),
    'of those telling it (median)': median((x) => x.holdersTelling),
    'waits with a telling holder (count)': w.filter((x) => x.holdersTelling > 0).length,
    'waits with holders in table (count)': w.filter((x) => x.holdersInTable > 0).length,
    'waits with a holder of the piece read (count)': w.filter((x) => x.holdersSeen > 0).length,
  };
}
