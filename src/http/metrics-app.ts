import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/**
 * The metrics listener an operator asked for (metrics-listen): /metrics and nothing else, plain
 * HTTP for Prometheus. With a cluster key the peer port's /metrics is for key holders only, and a
 * scraper cannot speak its TLS; this is the explicit way in, on an address the operator chose.
 */
export function buildMetricsApp(metrics: Registry, logger: Logger): FastifyInstance {
  const app = Fastify({ loggerInstance: logger as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  app.get('/metrics', async (_request, reply) => reply.header('content-type', metrics.contentType).send(await metrics.metrics()));
  return app;
}
