// Which module a CPU profile sample of the daemon's bundle (dist/src/cli/*.js) belongs to. A
// minified bundle cannot say; a readable one (`SHOAL_BUILD_READABLE=1 npm run build`) has every
// module under a `// src/...` or `// node_modules/...` line, which esbuild writes. Frames of such a
// bundle are given the URL of the module they fall in, so the summaries name sources, not chunks.
// The bundle is read when the profile is summarised, so summarise before the next build: chunks
// are named by their content (a rebuilt one is not found, its frames stay as they were), but
// main.js is not, and a profile of an older main.js would be mapped against the new one.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Profile } from './cpuprofile.ts';

/** A bundle file's path below the checkout it was built in. */
const BUNDLE = /\/dist\/src\/cli\/[^/]+\.js$/;
const MARKER = /^\/\/ ((?:src|node_modules)\/\S+)$/;

/** Per bundle file: the first line (0-based) of each module and its path, in order; empty when minified. */
const markers = new Map<string, Array<{ line: number; path: string }>>();

function markersOf(file: string): Array<{ line: number; path: string }> {
  let found = markers.get(file);
  if (found) return found;
  found = [];
  if (existsSync(file)) {
    readFileSync(file, 'utf8').split('\n').forEach((text, line) => {
      const path = MARKER.exec(text)?.[1];
      if (path) found!.push({ line, path });
    });
  }
  markers.set(file, found);
  return found;
}

/**
 * The URL of the module a bundle frame at (0-based) `line` lies in and the line within the
 * bundle's copy of it (types stripped: near, not at, the source's line); else the frame as it is.
 */
export function sourceFrame(url: string, line: number): { url: string; line: number } {
  if (!url.startsWith('file://') || !BUNDLE.test(url)) return { url, line };
  const file = fileURLToPath(url);
  let found: { line: number; path: string } | undefined;
  for (const marker of markersOf(file)) {
    if (marker.line > line) break;
    found = marker;
  }
  if (found === undefined) return { url, line };
  const root = file.replace(BUNDLE, '');
  return { url: pathToFileURL(`${root}/${found.path}`).href, line: line - found.line - 1 };
}

/** Rewrites every frame of `profile` that lies in a readable bundle to its module's URL and line. */
export function mapBundleFrames(profile: Profile): Profile {
  for (const node of profile.nodes) {
    const frame = node.callFrame as { url: string; lineNumber: number };
    const mapped = sourceFrame(frame.url, frame.lineNumber);
    frame.url = mapped.url;
    frame.lineNumber = mapped.line;
  }
  return profile;
}
