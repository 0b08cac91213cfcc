// `npm run build` (and `npm start` before it starts): the daemon's JavaScript in dist/ (tsc with
// tsconfig.build.json), the files the sources read at run time besides modules (the status page),
// and the fingerprint of the sources it was made from, which bin/shoal.js checks before it runs
// the build (bin/built.js). A build already made from these sources is kept.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_DIR, BUILD_STAMP, sourceFingerprint } from '../bin/built.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, BUILD_DIR);
const stamp = join(dist, BUILD_STAMP);
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
// Taken first: a source edited while tsc runs leaves a build that bin/shoal.js will not use.
const fingerprint = existsSync(join(root, 'src')) ? sourceFingerprint(root) : undefined;
if (fingerprint === undefined) {
  process.stdout.write(`build: no sources here; ${dist} is what runs\n`);
} else if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === fingerprint) {
  process.stdout.write(`build: ${dist} is up to date\n`);
} else if (!existsSync(tsc)) {
  // An install without devDependencies: bin/shoal.js runs the sources, as it does with a stale build.
  process.stdout.write('build: TypeScript is not installed (npm ci --omit=dev?), so shoal runs from its sources; npm ci installs it\n');
} else {
  rmSync(dist, { recursive: true, force: true });
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
  cpSync(join(root, 'src'), join(dist, 'src'), { recursive: true, filter: (path) => !path.endsWith('.ts') });
  writeFileSync(stamp, `${fingerprint}\n`);
  process.stdout.write(`build: ${dist} (sources ${fingerprint.slice(0, 12)})\n`);
}
