// The fan-out's piece transfers, piece by piece (`--transfers`: the daemons log at debug, one
// 'piece transfer' line per transfer and one 'owner asked' line per owner ask): for each piece of
// the image, when the seed's transfer of it ran and on which host, and when every other host
// started, got its first byte of and ended its transfer of that piece, and from whom. The gaps
// between a seed piece's start and the others' asks, and the seed link's idle stretches between
// one owner's pieces, are where a fan-out loses time against the ideal.
import type { ClusterNode } from '../../test/helpers/cluster.ts';
import { fmt } from './fanout-report.ts';

interface TransferLine {
  readonly host: string;
  readonly digest: string;
  readonly pieces: readonly number[];
  readonly source: string;
  readonly kind: string;
  readonly startS: number;
  readonly openedS: number | undefined;
  readonly firstS: number | undefined;
  readonly pacedS: number;
  readonly endS: number;
  readonly bytes: number;
  readonly failed: boolean;
}

/** Every 'piece transfer' line of the blobs in `digests` since `t0`, times in seconds from t0, peer ids as host names. */
export function transferLines(nodes: readonly ClusterNode[], t0: number, digests: readonly string[]): TransferLine[] {
  const names = new Map(nodes.map((d) => [d.peerId, d.name]));
  const lines: TransferLine[] = [];
  for (const d of nodes) {
    for (const l of d.runLogs()) {
      if (l.msg !== 'piece transfer' || typeof l.at !== 'number' || l.at < t0 || !digests.includes(String(l.digest))) continue;
      const at = (l.at - t0) / 1000;
      const first = Number(l.firstMs);
      const opened = Number(l.openedMs);
      lines.push({
        host: d.name,
        digest: String(l.digest),
        pieces: l.pieces as number[],
        source: names.get(String(l.source)) ?? String(l.source),
        kind: String(l.kind),
        startS: at,
        openedS: opened > 0 ? at + opened / 1000 : undefined,
        firstS: first > 0 ? at + first / 1000 : undefined,
        pacedS: Number(l.pacedMs) / 1000 || 0,
        endS: at + Number(l.ms) / 1000,
        bytes: Number(l.bytes),
        failed: l.failed === true,
      });
    }
  }
  return lines.sort((a, b) => a.startS - b.startS);
}

/** One row per piece (blobs in `digests` order): the seed's transfer, then each host's. */
export function renderTransfers(lines: readonly TransferLine[], hosts: readonly string[], digests: readonly string[]): string {
  const out = ['Piece transfers (s from the start: start/answered/first batch landed/end, p: paced s, source; * failed; blob letter + piece):'];
  out.push(`piece  seed (host start/answer/first/end)                ${hosts.map((h) => h.padEnd(38)).join('')}`);
  const byPiece = new Map<string, TransferLine[]>();
  for (const line of lines) for (const piece of line.pieces) byPiece.set(`${line.digest}/${piece}`, [...(byPiece.get(`${line.digest}/${piece}`) ?? []), line]);
  const keys = [...byPiece.keys()].sort((a, b) => {
    const [da, pa] = a.split('/');
    const [db, pb] = b.split('/');
    return digests.indexOf(da!) - digests.indexOf(db!) || Number(pa) - Number(pb);
  });
  const span = (t: TransferLine) => `${fmt(t.startS)}/${fmt(t.openedS)}/${fmt(t.firstS)}/${fmt(t.endS)}${t.pacedS > 0.05 ? ` p${fmt(t.pacedS, 1)}` : ''}${t.failed ? '*' : ''}`;
  for (const key of keys) {
    const [digest, piece] = key.split('/');
    const all = byPiece.get(key)!;
    const seed = all.filter((t) => t.kind === 'seed').map((t) => `${t.host} ${span(t)}`).join(', ');
    const cells = hosts.map((h) =>
      all
        .filter((t) => t.host === h && t.kind !== 'seed')
        .map((t) => `${span(t)} ${t.source}`)
        .join(', ')
        .padEnd(38),
    );
    out.push(`${String.fromCharCode(97 + digests.indexOf(digest!))}${piece!.padEnd(5)} ${seed.padEnd(49)}${cells.join('')}`);
  }
  return `${out.join('\n')}\n`;
}
