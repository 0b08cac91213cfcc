// Connections grouped by peer, and crossing dials: two hosts that dial each other at once get two
// connections; both ends keep the one the lower peer id dialled and close the other a moment later,
// so crossing dials do not eat the connection cap (128 loopback hosts under a cap of 64 held 64
// connections to 42-48 peers; connection-budget.ts).
import type { Connection } from '@libp2p/interface';

/** A crossing connection is closed once the one kept has been open this long (wall clock, as libp2p's timeline). */
export const CROSSING_SETTLE_MS = 2_000;

export function connectionsByPeer(connections: readonly Connection[]): Map<string, Connection[]> {
  const byPeer = new Map<string, Connection[]>();
  for (const c of connections) byPeer.set(c.remotePeer.toString(), [...(byPeer.get(c.remotePeer.toString()) ?? []), c]);
  return byPeer;
}

/**
 * Of two connections to one peer dialled from both ends, the one the higher peer id dialled, once
 * the other has been open a while (so both ends see it open and agree on what to close).
 */
export function crossingConnections(open: readonly Connection[], selfId: string): Connection[] {
  const settled = Date.now() - CROSSING_SETTLE_MS;
  const close: Connection[] = [];
  for (const [peer, connections] of connectionsByPeer(open)) {
    if (connections.length < 2) continue;
    const lowerDialled = (c: Connection) => (c.direction === 'outbound') === (selfId < peer);
    if (connections.some((c) => lowerDialled(c) && c.timeline.open <= settled)) close.push(...connections.filter((c) => !lowerDialled(c)));
  }
  return close;
}
