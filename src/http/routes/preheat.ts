// The admin API of cluster preheat, on the registry listener next to /_shoal/status:
//   POST /_shoal/preheat        {"images":[{"name","reference"}], "platform"?}  → 202, the job
//   GET  /_shoal/preheat/<id>   the job: every node's state and bytes (what the CLI polls)
//   GET  /_shoal/preheat        the latest jobs, newest first (the status page's cluster view)
// Starting one makes every member pull, so only a client on this host may: a listener opened to
// the LAN must not let any host set the cluster downloading. Never on the peer port.
import type { FastifyInstance } from 'fastify';
import type { PreheatApi } from '../../distribute/preheat-cluster.ts';
import { isLoopback } from '../../lib/loopback.ts';
import { OciError } from '../../oci/index.ts';
import { parsePreheatRequest, PreheatProtocolError } from '../../swarm/index.ts';
import { readBodyLimited } from '../body.ts';

export const PREHEAT_PATH = '/_shoal/preheat';
const MAX_REQUEST_BYTES = 64 * 1024;

export function registerPreheatRoutes(app: FastifyInstance, preheat: PreheatApi): void {
  // Only clients on the node itself reach these (browser-guard.ts); checked here too for the one that starts work.
  app.post(PREHEAT_PATH, async (request, reply) => {
    if (!isLoopback(request.socket.remoteAddress)) {
      throw new OciError('DENIED', 'a preheat can only be started on the node itself: run shoal prefetch --all-nodes there');
    }
    const body = await readBodyLimited(request.raw, MAX_REQUEST_BYTES, () => new OciError('SIZE_INVALID', 'preheat request too large', undefined, { status: 413 }));
    let parsed;
    try {
      parsed = parsePreheatRequest(JSON.parse(body.toString('utf8')));
    } catch (error) {
      const message = error instanceof PreheatProtocolError ? error.message : 'the body is not JSON';
      throw new OciError('UNSUPPORTED', `bad preheat request: ${message}`, undefined, { status: 400 });
    }
    const job = await preheat.start(parsed);
    return reply.code(202).header('cache-control', 'no-store').send(job);
  });
  app.get(`${PREHEAT_PATH}/:id`, async (request, reply) => {
    const job = preheat.job((request.params as { id: string }).id);
    if (job === undefined) throw new OciError('UNSUPPORTED', 'no such preheat on this node (only the last few are kept)', undefined, { status: 404 });
    return reply.header('cache-control', 'no-store').send(job);
  });
  app.get(PREHEAT_PATH, async (_request, reply) => reply.header('cache-control', 'no-store').send({ jobs: preheat.jobs() }));
}
