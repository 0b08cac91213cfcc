import type { RequestListener, Server } from 'node:http';
import type { TlsOptions } from 'node:tls';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { PeerBlobs } from '../distribute/blob-service.ts';
import { ownerAskFromQuery, readerFromQuery } from '../distribute/peer-client.ts';
import type { TransferStats } from '../distribute/transfer-stats.ts';
import { OciError, parseDigest, parseRangeHeader } from '../oci/index.ts';
import { sendError } from './errors.ts';
import { sendFileRange } from './send-file.ts';
import { downloadStarted } from '../lib/download-budget.ts';
import { BUSY_RETRY_AFTER_S } from '../distribute/serve-slots.ts';
import { askRefusal, type PeerMembers } from './peer-members.ts';
import { createPeerServer, peerServerLimits, type PeerServerLimits } from './peer-server.ts';
import { busyError, openCappedFile, ownerBusyError, sendMetered, takeServeSlot, uploadCapped, type PeerUploadHooks } from './peer-upload.ts';

export interface PeerAppServices {
  /** Where the bytes come from: BlobService (stored, arriving, or fetched as a piece's owner). */
  readonly blobs: PeerBlobs;
  readonly stats: TransferStats;
  readonly metrics: Registry;
  readonly logger: Logger;
  /**
   * With a cluster key: serve TLS with these options (a pre-shared key derived from it), so only
   * key holders complete a handshake: blobs and /metrics alike. Without: plain HTTP, an open swarm.
   */
  readonly tls?: TlsOptions;
  /** Bounded concurrent piece requests (busy answers) and the upload cap; absent: neither. */
  readonly upload?: PeerUploadHooks;
  /** The swarm's connected members: only they may ask this host, as a piece's owner, to fetch from its seed. */
  readonly members: PeerMembers;
  /** Connection caps and timeouts (peer-server.ts); default: peerServerLimits() for this process. */
  readonly connections?: Partial<PeerServerLimits>;
}

/**
 * The data plane other shoal nodes fetch from: blobs by digest only (complete ones, and pieces of
 * ones still arriving), with Range; never pushes, never tags, never a path built from anything but
 * a validated digest. Plus /metrics and /healthz for operators (and, with a key, for key holders only).
 */
export function buildPeerApp(services: PeerAppServices): FastifyInstance {
  const { blobs, stats } = services;
  // serverFactory keeps one FastifyInstance type for both: an https.Server handles requests the same way.
  const limits = { ...peerServerLimits(), ...services.connections };
  const serverFactory = (handler: RequestListener): Server => createPeerServer(handler, { tls: services.tls, limits, logger: services.logger });
  const app = Fastify({ serverFactory, loggerInstance: services.logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) => sendError(new OciError('UNSUPPORTED', `no peer endpoint at ${request.url.split('?')[0]}`, undefined, { status: 404 }), request, reply));

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/metrics', async (_request, reply) => reply.header('content-type', services.metrics.contentType).send(await services.metrics.metrics()));

  app.route({
    method: ['GET', 'HEAD'],
    url: '/blobs/:digest',
    handler: async (request, reply) => {
      const digest = parseDigest((request.params as { digest: string }).digest);
      const peer = request.ip;
      // Only a GET asks this host, as a piece's owner, to fetch: a HEAD starts nothing.
      const ask = request.method === 'GET' ? ownerAskFromQuery(request.query as Record<string, unknown>) : undefined;
      // Before a serve slot is taken: a stranger's ask costs nothing but this answer.
      const refusal = ask && askRefusal(services.members, ask.from, request.socket.remoteAddress);
      if (refusal !== undefined) throw new OciError('DENIED', refusal);
      // Neighbour hook: too many piece requests at once here, so this one is sent elsewhere.
      if (request.method === 'GET' && !takeServeSlot(services.upload, reply.raw, digest.value, request.headers.range)) {
        reply.header('retry-after', BUSY_RETRY_AFTER_S);
        throw busyError(services.upload!.slots);
      }
      // Who reads: the peer id it gave (a holder's read says it too), else its address.
      const blob = await blobs.forPeer(digest, ask, readerFromQuery(request.query as Record<string, unknown>) ?? peer);
      const total = blob?.size;
      if (blob === undefined || total === undefined) throw new OciError('BLOB_UNKNOWN', `blob ${digest.value} is not on this node`);
      const range = parseRangeHeader(request.headers.range, total) ?? { start: 0, end: total - 1 };
      if (blob.kind === 'arriving' && total > 0 && blob.busy(range)) {
        reply.header('retry-after', BUSY_RETRY_AFTER_S);
        throw ownerBusyError();
      }
      reply
        .code(request.headers.range ? 206 : 200)
        .header('content-type', 'application/octet-stream')
        .header('accept-ranges', 'bytes')
        .header('docker-content-digest', digest.value)
        .header('content-length', total === 0 ? 0 : range.end - range.start + 1);
      if (request.headers.range) reply.header('content-range', `bytes ${range.start}-${range.end}/${total}`);
      if (request.method === 'HEAD' || total === 0) return reply.send();
      const length = range.end - range.start + 1;
      if (blob.kind === 'stored' && uploadCapped(services.upload)) {
        // Neighbour hook: the upload cap reads the file as a stream (the reused-buffer sender cannot wait).
        const file = await openCappedFile(blob.path, range.start, range.end, blob.hold);
        file.once('end', () => stats.servedToPeer(peer, length));
        const raw = reply.raw;
        reply.hijack();
        raw.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
        await sendMetered(file, raw, services.upload.upload);
        return reply;
      }
      if (blob.kind === 'stored') {
        const raw = reply.raw;
        let sending = false;
        // Counted when the response closes, complete or not. Checking `raw.destroyed` after
        // sendFileRange returned counted 0 for every complete response: Node marks a response
        // destroyed once it has finished and let go of its socket, which by then it usually has.
        raw.once('close', () => {
          if (sending) stats.servedToPeer(peer, raw.writableFinished ? length : 0);
          if (sending && raw.writableFinished) void services.upload?.upload.take(length);
        });
        await sendFileRange(raw, blob.path, range.start, range.end, () => {
          sending = true;
          reply.hijack();
          raw.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
        }, blob.hold);
        return reply;
      }
      const stream = blob.read(range);
      stream.once('end', () => stats.servedToPeer(peer, length));
      // In the download budget while the response lasts: the blob's reader sizes its chunks by it.
      reply.raw.once('close', downloadStarted());
      // Headers go out now, not with the first byte as fastify's stream sending does: a piece that
      // is still on its way from the seed may take seconds to start, and the peer would take the
      // silence for a dead host (header timeout) and penalise us.
      const raw = reply.raw;
      reply.hijack();
      raw.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
      raw.flushHeaders();
      await sendMetered(stream, raw, services.upload?.upload);
      return reply;
    },
  });
  return app;
}
