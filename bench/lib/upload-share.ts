// Each host's share of all the bytes hosts uploaded to peers during the fan-out: with no hot spot
// every host carries about 1/N; the goal is that the largest share stays within 2x that.
import { fmt } from './fanout-report.ts';

/** Largest share over the fair share (1/N) the fan-out may reach. */
export const UPLOAD_SHARE_GOAL = 2;

export interface UploadShare {
  readonly fairShare: number;
  readonly perHost: ReadonlyArray<{ readonly host: string; readonly bytes: number; readonly share: number }>;
  readonly largestShare: number;
  readonly largestHost: string | undefined;
  /** largestShare / fairShare: 1 is perfectly even, N is one host serving everything. */
  readonly largestOverFair: number;
  readonly goal: number;
}

export function uploadShare(hosts: ReadonlyArray<{ readonly host: string; readonly servedToPeersBytes: number }>): UploadShare {
  const total = hosts.reduce((sum, h) => sum + h.servedToPeersBytes, 0);
  const perHost = hosts.map((h) => ({ host: h.host, bytes: h.servedToPeersBytes, share: total > 0 ? h.servedToPeersBytes / total : 0 }));
  const largest = perHost.reduce<(typeof perHost)[number] | undefined>((a, b) => (a === undefined || b.share > a.share ? b : a), undefined);
  const fairShare = hosts.length > 0 ? 1 / hosts.length : 0;
  const largestShare = largest?.share ?? 0;
  return { fairShare, perHost, largestShare, largestHost: largest?.host, largestOverFair: fairShare > 0 ? largestShare / fairShare : Number.NaN, goal: UPLOAD_SHARE_GOAL };
}

/** The summary table's row: shoal, baseline (none: the seed alone uploads), goal. */
export function uploadShareRow(u: UploadShare): string[] {
  return ['largest peer-upload share / fair (1/N)', `${fmt(u.largestOverFair)} (${u.largestHost ?? '–'} ${fmt(u.largestShare * 100, 1)}%)`, '', `≤ ${u.goal}`];
}

/** One line of every host's share, in percent. */
export function uploadShareLine(u: UploadShare): string {
  return `peer upload share per host (fair ${fmt(u.fairShare * 100, 1)}%): ${u.perHost.map((h) => `${h.host} ${fmt(h.share * 100, 1)}%`).join(', ')}`;
}
