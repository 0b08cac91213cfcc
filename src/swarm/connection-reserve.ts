// How much of the connection cap a host keeps free of neighbours once the swarm outgrows the cap
// (connection-budget.ts): room for DHT lookups and for the owner committee members it asks.

/**
 * Connections kept free under the cap: one per committee member this host may ask, and an
 * eighth of the cap for DHT lookups (its own and others'); never more than half the cap.
 */
export function committeeReserve(cap: number | undefined, committeeSize: number): number {
  return cap === undefined || committeeSize <= 0 ? 0 : Math.min(committeeSize + lookupShare(cap), Math.floor(cap / 2));
}

/** Of the reserve, what DHT lookups keep: a host answers askers (ConnectionBudget.answer()) only below the cap less this. */
export function lookupShare(cap: number): number {
  return Math.ceil(cap / 8);
}
