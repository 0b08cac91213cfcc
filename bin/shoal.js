#!/usr/bin/env -S node --max-semi-space-size=2 --heap-growing-percent=50
// Entry point. Plain JavaScript so that an old Node gets a clear message instead of a syntax or
// loader error from the TypeScript sources, which need Node's built-in type stripping (22.18+).
// Runs the JavaScript build (`npm run build`, dist/) when it was made from these very sources,
// else the sources themselves: see built.js.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { entryModule } from './built.js';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const typeStrippingByDefault = major > 23 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);
if (!typeStrippingByDefault) {
  process.stderr.write(`shoal: Node.js ${process.versions.node} is too old; use Node.js 22.18 or newer (npm start runs the project's own)\n`);
  process.exit(1);
}

// A reader that closed the pipe (`shoal doctor | grep -m1 ok`, `| head`) ends the command quietly,
// as SIGPIPE ends a C tool, instead of an unhandled EPIPE and its stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code === 'EPIPE') process.exit(141);
    throw error;
  });
}

const { main } = await import(pathToFileURL(entryModule(fileURLToPath(new URL('..', import.meta.url)))).href);
const exitCode = await main(process.argv.slice(2));
// exitCode rather than process.exit(): lets stdout drain when piped (`shoal config | less`).
if (exitCode !== undefined) process.exitCode = exitCode;
