import type { Holder } from '../swarm/index.ts';

/**
 * Whether the size an owner ask names may start this host's piece cache before the seed confirms
 * it: a peer other than the asker announces the blob with that size, and none another size.
 *
 * The seed's first answer checks the size anyway (seedPieceSource: a wrong one ends the piece
 * cache's seed reads), so the HEAD before it only guards the disk a piece cache reserves against a
 * lone liar. On the seed's link, full of the first hosts' blob reads, that HEAD waited behind them:
 * in bench:fanout (4 hosts × 100 Mbit/s, a loaded machine) an owner whose own pull started late
 * began the pieces it was asked for 1.3 s after the asks, and those were the seed's last pieces.
 */
export function sizeVouched(holders: readonly Holder[], asker: string | undefined, size: number): boolean {
  let vouched = false;
  for (const holder of holders) {
    if (holder.size !== size) return false;
    if (holder.peerId !== asker) vouched = true;
  }
  return vouched;
}
