// Imports every module of the app once: the tree bin/shoal.js runs, the JavaScript build under
// dist/src/ when it is current (see bin/built.js), else the TypeScript under src/. A module that
// imports a package a production install lacks (a devDependency used at run time, say) then fails
// the image build or the install, not the daemon's first request. Usage: node
// deploy/check-imports.mjs [APP_DIR] (default: the folder above this script's). Plain JavaScript;
// Node 22.18+ strips the types of the .ts it loads.
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const app = resolve(process.argv[2] ?? join(fileURLToPath(import.meta.url), '..', '..'));
const { entryModule } = await import(pathToFileURL(join(app, 'bin', 'built.js')).href);
// entryModule names <tree>/cli/main.{js,ts}: the tree is two folders up.
const tree = dirname(dirname(entryModule(app)));
const extension = tree.endsWith(join('dist', 'src')) ? '.js' : '.ts';
const files = readdirSync(tree, { recursive: true })
  .map(String)
  .filter((f) => f.endsWith(extension) && !f.endsWith('.d.ts'))
  .sort();
for (const file of files) {
  try {
    await import(pathToFileURL(join(tree, file)).href);
  } catch (error) {
    console.error(`check-imports: ${join(tree, file)}: ${error.message}`);
    process.exit(1);
  }
}
console.log(`check-imports: ${files.length} modules under ${tree} load`);
