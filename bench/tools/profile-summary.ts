// Summarizes a V8 .cpuprofile (from `--cpu-prof`, e.g. `npm run bench -- --cpu-prof`):
// self time by function and by file, total and inclusive time of the heaviest frames.
//   node bench/tools/profile-summary.ts FILE.cpuprofile [--top N]
import { readFileSync } from 'node:fs';
import { mapBundleFrames } from '../lib/bundle-sources.ts';
import type { CallFrame, Profile } from '../lib/cpuprofile.ts';

const argv = process.argv.slice(2);
const file = argv.find((a) => !a.startsWith('--'));
if (!file) throw new Error('usage: profile-summary.ts FILE.cpuprofile [--top N]');
const topIndex = argv.indexOf('--top');
const top = topIndex >= 0 ? Number(argv[topIndex + 1]) : 25;
const profile = mapBundleFrames(JSON.parse(readFileSync(file, 'utf8')) as Profile);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

const shortUrl = (url: string): string => url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'npm:').replace(/^.*\/(src|bench|bin)\//, '$1/');
const label = (f: CallFrame): string => `${f.functionName || '(anonymous)'} ${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : ''}`.trim();

const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
const selfByFunction = new Map<string, number>();
const selfByFile = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id)!;
  add(selfByFunction, label(node.callFrame), us);
  add(selfByFile, node.callFrame.url ? shortUrl(node.callFrame.url).replace(/^(npm:(@[^/]+\/)?[^/]+).*/, '$1') : `(${node.callFrame.functionName})`, us);
  // Inclusive: every distinct frame on the stack gets the sample's time once.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const key = label(byId.get(cur)!.callFrame);
    if (!seen.has(key)) {
      seen.add(key);
      add(inclusive, key, us);
    }
  }
}

const print = (title: string, map: Map<string, number>, n: number) => {
  process.stdout.write(`\n${title}\n`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    process.stdout.write(`  ${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / totalUs).toFixed(1).padStart(5)}%  ${key}\n`);
  }
};
process.stdout.write(`${file}: ${(totalUs / 1000).toFixed(0)} ms sampled over ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms\n`);
print('self time by function', selfByFunction, top);
print('self time by file / package', selfByFile, Math.min(top, 15));
print('inclusive time (frames on the stack)', new Map([...inclusive].filter(([k]) => !k.startsWith('(root)'))), top);
