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
