// Who hears this host's progress and load in a swarm larger than the per-blob neighbour limit:
// a blob's progress goes to its neighbours only (neighbours.ts), load changes to the neighbours
// of every blob some peer wants, and a peer that joins a blob's neighbours (it starts wanting the
// blob, or it tells us and was not among our own choice) gets the progress so far. A swarm this
// host sees whole at the limit or below is told everything, as a small LAN always was.
import type { Message } from './protocol.ts';
import { blobNeighbours } from './neighbours.ts';
import type { PeerTable } from './peer-table.ts';

export interface NeighbourRoutingInit {
  readonly selfId: string;
  readonly table: PeerTable;
  /** Peers told of this host's progress on one blob (blob-neighbours). */
  readonly limit: number;
  /** This host's latest progress message on the blob, undefined when it has none. */
  readonly progressOf: (digest: string) => Message | undefined;
  readonly sendTo: (message: Message, to: Iterable<string>) => void;
  /** Sends to every peer. */
  readonly broadcast: (message: Message) => void;
}

export class NeighbourRouting {
  readonly #init: NeighbourRoutingInit;

  constructor(init: NeighbourRoutingInit) {
    this.#init = init;
  }

  /** Progress on a blob goes to the blob's neighbours only. */
  tellAbout(digest: string, message: Message): void {
    this.#init.sendTo(message, this.neighboursOf(digest));
  }

  /** Load changes go to the neighbours of every blob some peer wants (the peers that may fetch from us). */
  tellLoad(message: Message): void {
    const { table, limit } = this.#init;
    if (table.peers().length <= limit) return this.#init.broadcast(message);
    const to = new Set<string>();
    for (const digest of table.wanted()) for (const id of this.neighboursOf(digest)) to.add(id);
    this.#init.sendTo(message, to);
  }

  /** A peer told us its progress on the blob: when it is not among our own choice, it now hears us too (the progress so far first). */
  onTeller(peerId: string, digest: string): void {
    if (!this.neighboursOf(digest, false).includes(peerId)) this.catchUp(peerId, digest);
  }

  /** A peer that has just become one of the blob's neighbours gets our progress so far. */
  catchUp(peerId: string, digest: string): void {
    const progress = this.#init.progressOf(digest);
    if (progress === undefined || this.#init.table.peers().length <= this.#init.limit) return;
    if (this.neighboursOf(digest).includes(peerId)) this.#init.sendTo(progress, [peerId]);
  }

  /** Whom our progress on the blob goes to: our own choice, and the peers that tell us unless `tellBack` is false (neighbours.ts). */
  neighboursOf(digest: string, tellBack = true): string[] {
    const { selfId, table, limit } = this.#init;
    const connected = table.peers().map((p) => p.peerId);
    return blobNeighbours(selfId, digest, connected, table.wanters(digest), limit, tellBack ? table.tellers(digest) : []);
  }
}
