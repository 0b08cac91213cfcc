import type { Logger } from 'pino';
import { OciError } from '../oci/index.ts';
import type { PartialBlob } from '../store/index.ts';
import type { SwarmView } from '../swarm/index.ts';
import { LIAR_BAN_MS } from './piece-limits.ts';
import type { TransferStats } from './transfer-stats.ts';
import type { BlobSource, BlobWant } from './types.ts';

/** filledBy's name for a piece no source of this run filled: kept on disk from an earlier run. */
const KEPT = 'kept on disk';

export interface RepairComponents {
  readonly swarm: SwarmView | undefined;
  readonly seed: BlobSource | undefined;
  readonly stats: TransferStats;
  readonly logger: Logger;
}

/**
 * Commits the blob once its sha256 matches the digest; a blob that fails is repaired from the seed
 * (repairFromSeed) and checked once more, then given up.
 */
export async function commitOrRepair(blob: PartialBlob, want: BlobWant, filledBy: Map<number, string>, c: RepairComponents, counted: (seedBytes: number) => void): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const result = await blob.commit();
    if (result.ok) return;
    c.stats.verificationFailures += 1;
    c.logger.warn({ digest: blob.digest.value, actual: result.actual }, 'assembled blob failed verification; comparing peer pieces with the seed');
    if (attempt >= 1) throw new OciError('DIGEST_INVALID', `blob ${blob.digest.value} still fails verification after repair (got ${result.actual})`);
    await repairFromSeed(blob, want, filledBy, c, LIAR_BAN_MS, counted);
  }
}

/**
 * After a blob failed verification: compares every piece that came from a peer, or was kept on disk
 * from an earlier run, with the seed's copy, bans the peers whose bytes differ and puts the seed's
 * bytes in their place.
 */
export async function repairFromSeed(
  blob: PartialBlob,
  want: BlobWant,
  filledBy: Map<number, string>,
  c: RepairComponents,
  banMs: number,
  counted: (seedBytes: number) => void,
): Promise<void> {
  const digest = blob.digest.value;
  const fromPeers = [...filledBy].filter(([, source]) => source !== 'seed');
  // Pieces this run did not fill were kept on disk from an earlier one (a restart mid-fetch): the
  // disk may have damaged them, and nobody is to blame.
  const kept: Array<[number, string]> = [];
  for (let index = 0; index < blob.pieceCount; index++) if (!filledBy.has(index) && blob.isPieceComplete(index)) kept.push([index, KEPT]);
  if (!c.seed) {
    for (const [, peer] of fromPeers) c.swarm?.penalise(peer, 'contributed to a blob that failed verification', banMs);
    throw new OciError('DIGEST_INVALID', `blob ${digest} failed verification and there is no seed to compare with`);
  }
  for (const [index, peer] of [...fromPeers, ...kept]) {
    const start = blob.pieceStart(index);
    const length = blob.pieceLength(index);
    const opened = await c.seed.open(want, { start, end: start + length - 1 });
    if (!opened) throw new OciError('BLOB_UNKNOWN', `the seed does not have ${digest}`);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of opened.stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      total += chunk.byteLength;
      if (total >= length) break;
    }
    opened.stream.destroy();
    const seedCopy = Buffer.concat(chunks).subarray(0, length);
    c.stats.receivedFromSeed(seedCopy.byteLength);
    counted(seedCopy.byteLength);
    if (seedCopy.equals(await blob.readRange(start, length))) continue;
    if (peer === KEPT) c.logger.warn({ digest, piece: index }, 'a piece kept on disk from an earlier run differs from the seed copy (the disk damaged it?): replaced');
    else {
      c.swarm?.penalise(peer, `sent bytes of ${digest} that failed verification`, banMs);
      c.logger.warn({ digest, piece: index, peer }, 'peer sent corrupt bytes: banned, piece replaced with the seed copy');
    }
    blob.resetPiece(index);
    await blob.write(start, seedCopy);
    filledBy.set(index, 'seed');
  }
}
