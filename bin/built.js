// Whether to run the daemon's JavaScript build (dist/, made by `npm run build`) or the TypeScript
// sources. The build is used only when it was made from exactly the sources beside it: the build
// records a fingerprint of src/, package.json and the compiler settings, and a checkout whose sources differ (an edit, a
// pull, a branch switch) runs the sources instead, never a stale build. Where there are no sources
// (an image that ships only dist/), the build is what there is.
// Type stripping costs memory at run time (Node loads a TypeScript parser and keeps the stripped
// text): ~15 MiB of the idle daemon's RSS, and the bundle of the build another ~15 (bench/memory.bench.ts).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const BUILD_DIR = 'dist';
export const BUILD_STAMP = 'build-fingerprint';
/**
 * What scripts/build.mjs makes, part of the fingerprint: a dist/ another kind of build made from
 * the same sources (tsc's one file per module, before the bundle) is not this one and is rebuilt.
 */
const BUILD_KIND = 'esbuild bundle 1';

/** sha256 over the paths and bytes of every file under src/, package.json and the tsconfig files there are. */
export function sourceFingerprint(root) {
  const hash = createHash('sha256').update(`${BUILD_KIND}\0`);
  const files = readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
  // The compiler's settings shape the output as much as the sources (comments kept or dropped).
  const settings = ['package.json', 'tsconfig.json', 'tsconfig.build.json'].filter((file) => existsSync(join(root, file)));
  for (const file of [...files, ...settings]) hash.update(`${file}\0`).update(readFileSync(join(root, file))).update('\0');
  return hash.digest('hex');
}

/** The entry module to run: the build's when it matches the sources (or there are none), else the sources'. */
export function entryModule(root) {
  const built = join(root, BUILD_DIR, 'src', 'cli', 'main.js');
  const source = join(root, 'src', 'cli', 'main.ts');
  if (!existsSync(built)) return source;
  if (!existsSync(source)) return built;
  try {
    return readFileSync(join(root, BUILD_DIR, BUILD_STAMP), 'utf8').split(/\s/)[0] === sourceFingerprint(root) ? built : source;
  } catch {
    return source;
  }
}
