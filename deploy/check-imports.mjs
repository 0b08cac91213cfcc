// Imports every module under the app's src/ once. A module that imports a package a production
// install lacks (a devDependency used at run time, say) then fails the image build or the install,
// not the daemon's first request. Usage: node deploy/check-imports.mjs [APP_DIR] (default: the
// folder above this script's). Plain JavaScript; Node 22.18+ strips the types of the .ts it loads.
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const app = resolve(process.argv[2] ?? join(fileURLToPath(import.meta.url), '..', '..'));
const files = readdirSync(join(app, 'src'), { recursive: true })
  .map(String)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .sort();
for (const file of files) {
  try {
    await import(pathToFileURL(join(app, 'src', file)).href);
  } catch (error) {
    console.error(`check-imports: src/${file}: ${error.message}`);
    process.exit(1);
  }
}
console.log(`check-imports: ${files.length} modules under ${join(app, 'src')} load`);
