// Keeps web pages from driving a node. A page the operator visits can send requests to
// localhost:5000 (cross-site POSTs need no CORS answer to take effect), or rebind its own DNS name
// to 127.0.0.1 and read the answers as its own origin. Registry clients (docker, podman, skopeo,
// containerd) never send Origin, while browsers send it with every request that is not a GET or
// HEAD: such a request is refused, so no page can push, delete or start a preheat. The operator
// pages and admin API under /_shoal answer clients on this machine only (they show the whole node),
// and only to a Host that is an IP address, localhost or this machine's own name: a rebound name
// reads nothing there. /_shoal/token is the registry clients' and answers any of them.
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { OciError } from '../oci/index.ts';
import { TOKEN_PATH } from './auth.ts';
import { isLoopback } from '../lib/loopback.ts';
import { hostOfAuthority } from '../lib/host-port.ts';
import { targetAuthority } from './paths.ts';

const READS = new Set(['GET', 'HEAD']);

export function browserGuard(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  if (!READS.has(request.method) && request.headers.origin !== undefined) {
    return done(new OciError('DENIED', `${request.method} requests from web pages (Origin ${String(request.headers.origin).slice(0, 100)}) are refused; registry clients send no Origin`));
  }
  // The route the router matched, not the raw target: `/%5Fshoal/status` and the absolute form
  // `GET http://x/_shoal/status` reach the same routes. The token endpoint is the registry
  // clients': its URL carries whatever name they reached the node by.
  const route = request.routeOptions.url ?? '';
  const operatorPage = (route === '/_shoal' || route.startsWith('/_shoal/')) && route !== TOKEN_PATH;
  if (operatorPage && !isLoopback(request.socket.remoteAddress)) {
    return done(new OciError('DENIED', 'the operator pages and the admin API (/_shoal) answer on the node itself, even with --listen open to the LAN: run shoal status or shoal prefetch --all-nodes there, or reach http://127.0.0.1:5000/_shoal/ through ssh -L'));
  }
  if (operatorPage && !isOwnHost(targetAuthority(request.raw.url ?? '') ?? request.headers.host)) {
    return done(new OciError('DENIED', `the operator pages answer to localhost, an IP address or this machine's name (${hostname()}), not to Host ${String(request.headers.host).slice(0, 100)}`));
  }
  done();
}

function isOwnHost(header: string | undefined): boolean {
  if (header === undefined) return true; // HTTP/1.0 with no Host: no name to rebind
  const name = hostOfAuthority(header).toLowerCase().replace(/\.$/, '');
  if (isIP(name) !== 0 || isLoopback(name)) return true;
  const own = hostname().toLowerCase();
  return name === own || name === own.split('.')[0] || name === `${own.split('.')[0]}.local`;
}
