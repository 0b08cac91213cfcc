// `npm run build` (and `npm start` before it starts): the daemon as a few minified JavaScript files
// in dist/src/cli/ (esbuild: main.js and the chunks its dynamic imports load), the files the
// sources read at run time besides modules (the status page, the hash worker) under dist/src/ where
// the sources have them, and the fingerprint of the sources it was made from, which bin/shoal.js
// checks before it runs the build (bin/built.js). A build already made from these sources is kept.
// Why a bundle rather than one .js per .ts: V8 keeps the source text of every module it loads; the
// daemon's ~1,400 modules (libp2p, fastify, ...) were ~10 MiB of text and 2 MiB of line tables in
// an idle daemon's heap, minified and bundled they are a fraction of it (bench/memory.bench.ts).
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_DIR, BUILD_STAMP, sourceFingerprint } from '../bin/built.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, BUILD_DIR);
const stamp = join(dist, BUILD_STAMP);
const src = join(root, 'src');
/** Every output file lands here, so one relative path from any of them reaches a file. */
const outdir = join(dist, 'src', 'cli');

/** Loads esbuild, or undefined when devDependencies are not installed. */
async function loadEsbuild() {
  try {
    return await import('esbuild');
  } catch {
    return undefined;
  }
}

/**
 * `new URL('./page.html', import.meta.url)` in a source means the file beside that source; in the
 * bundle import.meta.url is a file in outdir. Such paths are rewritten to reach the same file: its
 * copy under dist/src/ for a file under src/, the file itself otherwise (package.json).
 */
const assetUrls = {
  name: 'asset-urls',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      if (!args.path.startsWith(src + sep)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      const contents = text.replace(/new URL\((['"])([^'"]+)\1, import\.meta\.url\)/g, (_, quote, path) => {
        const target = resolve(dirname(args.path), path);
        const built = target.startsWith(src + sep) ? join(dist, 'src', relative(src, target)) : target;
        const fromOut = relative(outdir, built).split(sep).join('/');
        return `new URL(${JSON.stringify(fromOut.startsWith('.') ? fromOut : `./${fromOut}`)}, import.meta.url)`;
      });
      return { contents, loader: 'ts' };
    });
  },
};

// Taken first: a source edited while the build runs leaves a build that bin/shoal.js will not use.
const fingerprint = existsSync(src) ? sourceFingerprint(root) : undefined;
const esbuild = fingerprint === undefined ? undefined : await loadEsbuild();
// SHOAL_BUILD_READABLE=1: not minified, each module under a `// src/...` line, so that a CPU
// profile of the daemon names the code it sampled. The stamp says so (bin/built.js reads its first word).
const readable = process.env.SHOAL_BUILD_READABLE === '1';
const stampText = `${fingerprint}${readable ? ' readable' : ''}`;
if (fingerprint === undefined) {
  process.stdout.write(`build: no sources here; ${dist} is what runs\n`);
} else if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === stampText) {
  process.stdout.write(`build: ${dist} is up to date\n`);
} else if (!esbuild) {
  // An install without devDependencies: bin/shoal.js runs the sources, as it does with a stale build.
  process.stdout.write('build: esbuild is not installed (npm ci --omit=dev?), so shoal runs from its sources; npm ci installs it\n');
} else {
  rmSync(dist, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: [join(src, 'cli', 'main.ts')],
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    tsconfig: join(root, 'tsconfig.build.json'),
    minify: !readable,
    // Class and function names stay: error names and log fields show them.
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
    // CommonJS packages (fastify, pino, ...) call require() for Node's modules; an ES module has none.
    banner: { js: "import{createRequire as __shoalRequire}from'node:module';const require=__shoalRequire(import.meta.url);" },
    plugins: [assetUrls],
  });
  cpSync(src, join(dist, 'src'), { recursive: true, filter: (path) => !path.endsWith('.ts') });
  writeFileSync(stamp, `${stampText}\n`);
  process.stdout.write(`build: ${dist} (sources ${fingerprint.slice(0, 12)}${readable ? ', readable' : ''})\n`);
}
