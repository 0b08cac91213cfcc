// The fan-out benchmark run several times in a row, for the spread of the figures one run cannot
// give: seed egress and last finish / ideal, min / median / max over the runs, shoal and the
// baseline (every host straight from the seed) measured in the same runs. Each run is a complete
// bench/fanout.bench.ts (fresh namespaces, seed and daemons); its own JSON stays in bench/results.
//
//   node bench/fanout-series.ts [--runs N] [fanout.bench.ts options...]
//   e.g. npm run bench:fanout:series -- --runs 10 --hosts 8 --rate-mbit 200 --image-mib 64
// Table on stdout, JSON in bench/results/fanout-series-<time>.json.
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../test/helpers/cluster/constants.ts';
import { fmt, progress, spread, table, type Spread } from './lib/fanout-report.ts';

interface PhaseFigures {
  readonly lastFinishOverIdeal: number;
  readonly seedEgressOverImage: number;
}

interface RunFigures {
  readonly run: number;
  readonly shoal: PhaseFigures;
  readonly baseline: PhaseFigures | undefined;
  readonly file: string;
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  // The series' own flag, then the fan-out benchmark's, which it passes on.
  process.stdout.write('node bench/fanout-series.ts [--runs N (default 10)] [fanout.bench.ts options...]\n\nfanout.bench.ts:\n');
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'fanout.bench.ts'), '--help'], { stdio: 'inherit' });
  process.exit((await new Promise<number | null>((resolve) => child.once('close', resolve))) ?? 1);
}
const { values, tokens } = parseArgs({ options: { runs: { type: 'string', default: '10' } }, strict: false, tokens: true });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive whole number, not ${String(values.runs)}`);
// Everything but --runs goes to every fan-out run as given.
const passOn = process.argv.slice(2).filter((_, i) => !tokens.some((t) => t.kind === 'option' && t.name === 'runs' && (t.index === i || (t.inlineValue === false && t.index + 1 === i))));

async function runOnce(run: number): Promise<RunFigures> {
  progress(`series: run ${run} of ${runs}: node bench/fanout.bench.ts ${passOn.join(' ')}`);
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'fanout.bench.ts'), ...passOn], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`run ${run}: fanout.bench.ts exited ${code}\n${out.slice(-2_000)}`);
  const file = /JSON: (\S+)/.exec(out)?.[1];
  if (!file) throw new Error(`run ${run}: fanout.bench.ts printed no JSON path`);
  const result = JSON.parse(await readFile(file, 'utf8')) as { shoal: PhaseFigures; baseline?: { phase: PhaseFigures } | null };
  const pick = (p: PhaseFigures): PhaseFigures => ({ lastFinishOverIdeal: p.lastFinishOverIdeal, seedEgressOverImage: p.seedEgressOverImage });
  const figures = { run, shoal: pick(result.shoal), baseline: result.baseline ? pick(result.baseline.phase) : undefined, file };
  progress(`series: run ${run}: seed egress ${fmt(figures.shoal.seedEgressOverImage, 3)}x, last finish ${fmt(figures.shoal.lastFinishOverIdeal)}x ideal (baseline ${fmt(figures.baseline?.lastFinishOverIdeal)}x)`);
  return figures;
}

const results: RunFigures[] = [];
for (let run = 1; run <= runs; run++) results.push(await runOnce(run));

const of = (phase: 'shoal' | 'baseline', key: keyof PhaseFigures): Spread => spread(results.flatMap((r) => (r[phase] ? [r[phase][key]] : [])));
const summary = {
  shoal: { seedEgressOverImage: of('shoal', 'seedEgressOverImage'), lastFinishOverIdeal: of('shoal', 'lastFinishOverIdeal') },
  baseline: { seedEgressOverImage: of('baseline', 'seedEgressOverImage'), lastFinishOverIdeal: of('baseline', 'lastFinishOverIdeal') },
};
const row = (what: string, s: Spread, digits: number): string[] => [what, String(s.n), fmt(s.min, digits), fmt(s.median, digits), fmt(s.max, digits)];
process.stdout.write(
  `\n${table([
    ['figure', 'runs', 'min', 'median', 'max'],
      row('shoal seed egress / image', summary.shoal.seedEgressOverImage, 3),
      row('shoal last finish / ideal', summary.shoal.lastFinishOverIdeal, 2),
      row('baseline seed egress / image', summary.baseline.seedEgressOverImage, 3),
      row('baseline last finish / ideal', summary.baseline.lastFinishOverIdeal, 2),
  ])}\n`,
);
const dir = join(ROOT, 'bench', 'results');
await mkdir(dir, { recursive: true });
const file = join(dir, `fanout-series-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(file, `${JSON.stringify({ args: passOn, runs: results, summary }, null, 2)}\n`);
process.stdout.write(`\nJSON: ${file}\n`);
