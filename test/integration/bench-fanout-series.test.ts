// bench:fanout:series over fan-outs alone (--fanout-only), the way A/B series are run: each run
// writes its figures as JSON and the series reads them (it stopped after its first run when that
// mode wrote none). A small real fan-out: namespaces, a registry:2 seed, two daemons, skopeo.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));

test('a series of two fan-outs alone: both run, and the table and JSON give their figures', { timeout: 600_000 }, async () => {
  const args = ['--runs', '2', '--hosts', '2', '--rate-mbit', '200', '--image-mib', '8', '--no-baseline', '--wait-quiet', '0', '--fanout-only', '--ttfb-rounds', '1', '--pushes', '1'];
  const { stdout } = await run(join(repo, 'node_modules', '.bin', 'node'), [join(repo, 'bench', 'fanout-series.ts'), ...args], { cwd: repo, maxBuffer: 64 * 1024 * 1024 });
  assert.match(stdout, /shoal seed egress \/ image\s+2\s/, stdout.slice(-2_000));
  const file = /JSON: (\S+)/.exec(stdout)?.[1];
  assert.ok(file, 'the series names its JSON');
  const series = JSON.parse(await readFile(file, 'utf8')) as { runs: ReadonlyArray<{ shoal: { lastFinishOverIdeal: number; seedEgressOverImage: number }; file: string }> };
  assert.equal(series.runs.length, 2);
  for (const r of series.runs) {
    assert.ok(r.shoal.lastFinishOverIdeal > 0 && Number.isFinite(r.shoal.lastFinishOverIdeal), `last finish ${r.shoal.lastFinishOverIdeal}`);
    assert.ok(r.shoal.seedEgressOverImage >= 0.99, `seed egress ${r.shoal.seedEgressOverImage}: every layer came from the seed at least once`);
    assert.match(r.file, /fanout-only-.*\.json$/, 'each run wrote its own fan-out-only JSON');
  }
});
