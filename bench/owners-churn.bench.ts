// What a membership change costs in piece owners: when one member joins or leaves a swarm of N,
// how many of a blob's pieces get another owner: shoal's owners (owners.ts ownerRanking: balanced
// up to MAX_BALANCED_MEMBERS members, so 8 + 1 crosses to plain rendezvous), owners always
// balanced, and plain rendezvous (rankOwners). A piece that moves is one whose
// owner hosts may disagree on while their views of the membership differ. "Unavoidable" counts
// the pieces the joiner takes or the leaver held: those move under any scheme.
// Averages over random blob digests and peer ids; pure computation, no network.
//
//   node bench/owners-churn.bench.ts [--trials 400]
import { createHash } from 'node:crypto';
import { balancedRankings, ownerRanking, rankOwners } from '../src/distribute/owners.ts';
import { parseFlags } from './lib/args.ts';
import { fmt, table } from './lib/fanout-report.ts';

type Owners = (digest: string, pieces: number, members: readonly string[]) => string[];

const SCHEMES: Record<string, Owners> = {
  shoal: (d, pieces, members) => Array.from({ length: pieces }, (_, p) => ownerRanking(d, p, pieces, members)[0]!),
  'always balanced': (d, pieces, members) => balancedRankings(d, pieces, members).map((r) => r[0]!),
  rendezvous: (d, pieces, members) => Array.from({ length: pieces }, (_, p) => rankOwners(d, p, members)[0]!),
};

const hex = (text: string): string => createHash('sha256').update(text).digest('hex');

interface Cost {
  moved: number;
  unavoidable: number;
  busiest: number;
}

function measure(owners: Owners, n: number, pieces: number, change: 'join' | 'leave', trials: number): Cost {
  const sum: Cost = { moved: 0, unavoidable: 0, busiest: 0 };
  for (let t = 0; t < trials; t++) {
    const digest = `sha256:${hex(`blob ${t}`)}`;
    const ids = Array.from({ length: n + 1 }, (_, i) => `12D3KooW${hex(`${t}/${i}`).slice(0, 44)}`);
    const before = owners(digest, pieces, ids.slice(0, n));
    const changed = change === 'join' ? ids : ids.slice(0, n - 1);
    const after = owners(digest, pieces, changed);
    const mover = change === 'join' ? ids[n]! : ids[n - 1]!;
    sum.moved += before.filter((o, p) => o !== after[p]).length;
    sum.unavoidable += (change === 'join' ? after : before).filter((o) => o === mover).length;
    const counts = new Map<string, number>();
    for (const o of before) counts.set(o, (counts.get(o) ?? 0) + 1);
    sum.busiest += Math.max(...counts.values());
  }
  return { moved: sum.moved / trials, unavoidable: sum.unavoidable / trials, busiest: sum.busiest / trials };
}

const flags = parseFlags(process.argv.slice(2), { switches: [], values: ['trials'] });
const trials = Number(flags.get('trials') ?? 400);
const rows: string[][] = [['members N', 'pieces', 'change', 'scheme', 'pieces moved (mean)', 'unavoidable', 'moved ÷ unavoidable', 'busiest owner (of pieces, before)']];
for (const n of [4, 8]) {
  for (const pieces of [16, 64]) {
    for (const change of ['join', 'leave'] as const) {
      for (const [scheme, owners] of Object.entries(SCHEMES)) {
        const c = measure(owners, n, pieces, change, trials);
        rows.push([String(n), String(pieces), change, scheme, fmt(c.moved, 1), fmt(c.unavoidable, 1), fmt(c.moved / c.unavoidable, 2), fmt(c.busiest, 1)]);
      }
    }
  }
}
process.stdout.write(`Owner moves on a membership change, ${trials} random blobs each\n${table(rows)}\n`);
