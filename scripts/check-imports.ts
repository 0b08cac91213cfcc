// The import-direction check run by CI (`npm run check:imports`). The parts under src/ form
// layers (README, "Parts and folders"); a file may import from its own part and from parts
// earlier in LAYERS, never from a later one, and no chain of imports may come back to the file
// it started from. A small walk over the import graph is enough: no resolver, no bundler.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Earlier rows are lower layers; parts in one row may import each other (but not in a cycle). */
export const LAYERS: readonly (readonly string[])[] = [
  ['lib'],
  ['oci'],
  ['store'],
  ['upstream'],
  ['swarm'],
  ['distribute'],
  ['http'],
  ['config'],
  ['cli', 'daemon'],
];

/** Imports the layer order allows but the design does not: http speaks HTTP and reaches the store through distribute. */
export const FORBIDDEN: readonly { readonly from: string; readonly to: string; readonly except: readonly string[] }[] = [
  { from: 'http', to: 'store', except: [] },
];

export interface Problem {
  readonly kind: 'upward' | 'forbidden' | 'cycle' | 'unknown-part';
  readonly message: string;
}

const IMPORT = /(?:^|[;\s])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[;\s])import\s*\(?\s*['"]([^'"]+)['"]/g;

/** Relative import specifiers of one source text, comments removed first. */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"\\])\/\/.*$/gm, '$1');
  const found: string[] = [];
  for (const m of code.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (spec !== undefined && spec.startsWith('.')) found.push(spec);
  }
  return found;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

function layerOf(part: string): number {
  return LAYERS.findIndex((row) => row.includes(part));
}

/** Every problem in the tree under `srcDir`; an empty list means the graph is clean. */
export function checkImports(srcDir: string): Problem[] {
  const root = resolve(srcDir);
  const partOf = (file: string): string => relative(root, file).split(sep)[0] ?? '';
  const graph = new Map<string, string[]>();
  const problems: Problem[] = [];
  for (const file of tsFiles(root)) {
    const targets = importsOf(readFileSync(file, 'utf8'))
      .map((spec) => resolve(dirname(file), spec))
      .filter((target) => target.startsWith(root + sep));
    graph.set(file, targets);
    const from = partOf(file);
    if (layerOf(from) < 0 && from.endsWith('.ts') === false) {
      problems.push({ kind: 'unknown-part', message: `${relative(root, file)}: folder "${from}" is not in the layer list (scripts/check-imports.ts)` });
    }
    for (const target of targets) {
      const to = partOf(target);
      const name = relative(root, file).split(sep).join('/');
      if (layerOf(to) > layerOf(from)) {
        problems.push({ kind: 'upward', message: `${name} imports ${relative(root, target)}: ${from} may not depend on ${to}, which comes later in the layer order` });
      } else if (FORBIDDEN.some((rule) => rule.from === from && rule.to === to && !rule.except.includes(name))) {
        problems.push({ kind: 'forbidden', message: `${name} imports ${relative(root, target)}: ${from} may not import ${to} (scripts/check-imports.ts, FORBIDDEN)` });
      }
    }
  }
  for (const cycle of cycles(graph)) {
    problems.push({ kind: 'cycle', message: `import cycle among: ${cycle.map((f) => relative(root, f)).join(', ')}` });
  }
  return problems;
}

/** One example cycle per strongly connected group of files (Tarjan's algorithm). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || graph.get(v)!.includes(v)) groups.push(group.reverse());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return groups;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const srcDir = process.argv[2] ?? resolve(import.meta.dirname, '..', 'src');
  const problems = checkImports(srcDir);
  for (const p of problems) console.error(`check-imports: ${p.message}`);
  if (problems.length > 0) {
    console.error(`check-imports: ${problems.length} problem(s); the layer order is ${LAYERS.map((r) => r.join('/')).join(' → ')}`);
    process.exit(1);
  }
  console.log(`check-imports: ${LAYERS.map((r) => r.join('/')).join(' → ')}: no upward import, no cycle`);
}
