// Owners ranked among a committee every host agrees on (src/swarm/committee.ts) rather than among
// the peers this host happens to be connected to. The engine still picks a source with
// choosePieceSource over the committee members it is connected to; this gate lets an owner or
// seed choice stand only when it is what the whole committee's ranking says, so a host never
// fetches from the seed a piece whose real owner it cannot see: it waits for a neighbour to
// hold it instead (the owner, asked by hosts that do see it, fetches it once).
import { rankOwners } from './owners.ts';
import { MAX_OWNERS_ASKED, type PieceChoice, type PieceView } from './piece-choice.ts';

export function committeeAllows(view: PieceView, choice: PieceChoice, committee: readonly string[]): boolean {
  if ((choice.kind !== 'owner' && choice.kind !== 'seed') || view.demanded) return true;
  let failed = 0;
  for (const peerId of rankOwners(view.digest, view.index, committee)) {
    if (view.exclude.has(peerId)) continue;
    if (view.failed.has(peerId)) {
      failed += 1;
      // choosePieceSource turns to the seed after as many failed owners; so does the committee.
      if (failed >= MAX_OWNERS_ASKED) return true;
      continue;
    }
    return choice.kind === 'seed' ? peerId === view.selfId : peerId === choice.peerId;
  }
  // Still being looked up (empty), or every member failed: only after failures may the seed be asked.
  return failed > 0 && choice.kind === 'seed';
}

/**
 * A held-back piece goes ahead anyway (the owner choosePieceSource made, or the seed) once this
 * blob has received nothing here for this long: hosts may still disagree on the committee (a
 * lookup that has not converged), and an owner that does not know it owns a piece never fetches
 * it, so waiting on would never end. The clock is the blob's progress, not the wait itself: on a
 * busy machine a piece can take more than this to cross the swarm from its owner while the blob's
 * other pieces keep arriving, and a fixed limit then sent the seed pieces the swarm was about to
 * hand over (test/integration/swarm-committee.test.ts).
 */
export const COMMITTEE_WAIT_MS = 20_000;

/** committeeAllows for one blob's engine, with the limit above on how long a piece waits. */
export class CommitteeGate {
  readonly #blockedSince = new Map<number, number>();

  /** `progressAt`: when this blob last received bytes here (or started to be fetched). */
  allows(view: PieceView, choice: PieceChoice, committee: readonly string[], now = Date.now(), progressAt = 0): boolean {
    if (committeeAllows(view, choice, committee)) {
      this.#blockedSince.delete(view.index);
      return true;
    }
    if (choice.kind !== 'owner' && choice.kind !== 'seed') return false;
    const since = this.#blockedSince.get(view.index) ?? now;
    this.#blockedSince.set(view.index, since);
    return now - Math.max(since, progressAt) >= COMMITTEE_WAIT_MS;
  }
}
