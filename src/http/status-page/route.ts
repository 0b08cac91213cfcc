import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/** Where the page lives; it polls `status` relative to itself, i.e. `/_shoal/status`. */
export const STATUS_PAGE_PATH = '/_shoal/';

/**
 * The page is one HTML file with its CSS and JS inline (no build step, no CDN: LANs are often
 * offline). It is read once at startup; the CSP names the exact inline script and style by their
 * sha256, so nothing else (an injected tag, an inline handler, a style attribute) can run or apply.
 */
const PAGE_HTML = readFileSync(new URL('./page.html', import.meta.url), 'utf8');

function inlineHash(html: string, tag: 'script' | 'style'): string {
  const blocks = [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))];
  if (blocks.length !== 1) throw new Error(`status page: expected exactly one inline <${tag}>, found ${blocks.length}`);
  return `'sha256-${createHash('sha256').update(blocks[0]![1]!, 'utf8').digest('base64')}'`;
}

export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${inlineHash(PAGE_HTML, 'script')}`,
  `style-src ${inlineHash(PAGE_HTML, 'style')}`,
  "connect-src 'self'",
  // the favicon is a data: URL in the page, so the browser does not ask the registry API for one
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Registers the status page on the registry app. It goes on the loopback listener only, next to
 * `/_shoal/status`, never on the peer port: the page shows the whole node (its data directory,
 * upstream errors, every peer and cached image), and the loopback port is where operator-only
 * endpoints belong, while the peer port is exposed to the LAN and serves blobs by digest only.
 */
export function registerStatusPage(app: FastifyInstance): void {
  app.get(STATUS_PAGE_PATH, async (_request, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', STATUS_PAGE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .send(PAGE_HTML),
  );
  // Without the slash the page's relative `status` URL would point at /status.
  app.get('/_shoal', async (_request, reply) => reply.redirect(STATUS_PAGE_PATH, 308));
}
