// Whether a tag was pushed to the swarm or only resolved from the seed. The seed is authoritative
// for the tags it serves: one it answers 404 for was withdrawn there (a vulnerable image taken
// down on sjq-20), and a copy this host merely pulled must stop answering. A tag pushed to a node
// of the swarm is the swarm's own and outlives the seed's 404.
import type { PushedManifests } from '../store/index.ts';

/** The newest tag record the swarm knows, as far as this question needs it. */
export interface AnnouncedTag {
  readonly digest: string;
  readonly deleted?: true;
  readonly pushed?: true;
}

/** True when `tag` naming `digest` was pushed here (pushed.json) or, by the newest record announced, to another node. */
export function pushedToSwarm(pushed: PushedManifests, announced: AnnouncedTag | undefined, name: string, tag: string, digest: string): boolean {
  return pushed.pushedTag(name, tag) === digest || (announced?.pushed === true && announced.digest === digest);
}
