import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { OciError } from '../oci/index.ts';
import { TOKEN_PATH, type RegistryAuth } from './auth.ts';
import type { RegistryServices, RouteContext } from './context.ts';
import { sendError } from './errors.ts';
import { parseEndpoint, splitUrl, type Endpoint } from './paths.ts';
import { deleteBlob, getBlob, headBlob } from './routes/blobs.ts';
import { catalog, listTags, referrers } from './routes/listing.ts';
import { deleteManifest, getManifest, putManifest } from './routes/manifests.ts';
import { cancelUpload, finishUpload, patchUpload, startUpload, uploadStatus } from './routes/uploads.ts';
import { registerStatusPage } from './status-page/route.ts';
import { registerPreheatRoutes } from './routes/preheat.ts';
import { browserGuard } from './browser-guard.ts';

type Handler = (ctx: RouteContext<never>) => Promise<void>;
type MethodTable = Partial<Record<string, Handler>>;

// One table of what each endpoint answers; anything else is 405 with the spec's UNSUPPORTED.
const ROUTES: Record<Endpoint['kind'], MethodTable> = {
  base: {
    GET: async ({ reply }) => void reply.code(200).header('content-type', 'application/json').send('{}'),
    HEAD: async ({ reply }) => void reply.code(200).header('content-length', 0).send(),
  },
  catalog: { GET: catalog as Handler },
  tags: { GET: listTags as Handler },
  manifest: {
    GET: ((ctx) => getManifest(ctx, false)) as Handler,
    HEAD: ((ctx) => getManifest(ctx, true)) as Handler,
    PUT: putManifest as Handler,
    DELETE: deleteManifest as Handler,
  },
  blob: { GET: getBlob as Handler, HEAD: headBlob as Handler, DELETE: deleteBlob as Handler },
  uploads: { POST: startUpload as Handler },
  upload: { GET: uploadStatus as Handler, PATCH: patchUpload as Handler, PUT: finishUpload as Handler, DELETE: cancelUpload as Handler },
  referrers: { GET: referrers as Handler },
};

const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'] as const;

/**
 * The Docker Registry HTTP API v2 / OCI distribution API as a fastify app that is built but not
 * listening, so tests can `inject()`. Names contain slashes, so one wildcard route dispatches by
 * the path's suffix; request bodies are left unread for the routes to stream.
 */
export interface RegistryAppOptions {
  /** Users and policy (an htpasswd file is configured); absent: every client may do everything. */
  readonly auth?: RegistryAuth;
}

export function buildRegistryApp(services: RegistryServices, options: RegistryAppOptions = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: services.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 4096 },
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    // A URL fastify refuses before routing (a malformed percent-escape) gets the spec's error
    // body and headers too, not fastify's own JSON.
    frameworkErrors: (error, request, reply) => {
      reply.header('docker-distribution-api-version', 'registry/2.0');
      sendError(error.code === 'FST_ERR_BAD_URL' ? new OciError('NAME_INVALID', 'request path has a malformed percent-escape') : error, request, reply);
    },
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  app.addHook('onRequest', (_request, reply, done) => {
    reply.header('docker-distribution-api-version', 'registry/2.0');
    done();
  });
  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.addHook('onRequest', browserGuard);
  // After the version header, so a 401 carries it too; before any route, status page included.
  const { auth } = options;
  if (auth) {
    app.addHook('onRequest', auth.onRequest);
    app.get(TOKEN_PATH, auth.token);
  }

  // Handlers call reply.send (often with a stream); returning the reply tells fastify it was sent.
  const dispatch = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const { path, query } = splitUrl(request.raw.url ?? request.url);
    const endpoint = parseEndpoint(path);
    if (!endpoint) throw new OciError('UNSUPPORTED', `no registry endpoint at ${path}`, undefined, { status: 404 });
    const handler = ROUTES[endpoint.kind][request.method];
    if (!handler) {
      const allowed = Object.keys(ROUTES[endpoint.kind]).join(', ');
      throw new OciError('UNSUPPORTED', `${request.method} is not supported on this endpoint; use ${allowed}`, undefined, { status: 405, headers: { allow: allowed } });
    }
    // From here on a repository is the name it is cached under: `library/x?ns=registry.example.com` and
    // `registry.example.com/library/x` are one repository, and neither is the default upstream's `library/x`.
    const ns = query.get('ns') ?? undefined;
    const scoped = 'name' in endpoint ? { ...endpoint, name: services.names.repository(endpoint.name, ns) } : endpoint;
    await handler({ request, reply, endpoint: scoped as never, query, services } as RouteContext<never>);
    return reply;
  };
  // shoal's own endpoints live outside /v2, on the loopback listener only.
  const status = services.status;
  if (status) app.get('/_shoal/status', async (_request, reply) => reply.header('cache-control', 'no-store').send(await status()));
  if (status) registerStatusPage(app); // GET /_shoal/: the status page (loopback only; see route.ts)
  if (services.preheat) registerPreheatRoutes(app, services.preheat);
  app.route({ method: [...METHODS], url: '/v2', handler: dispatch });
  app.route({ method: [...METHODS], url: '/v2/*', handler: dispatch });
  // Paths outside /v2, and methods fastify does not route (OPTIONS, PROPFIND, ...): the same
  // dispatch answers 404 for an unknown endpoint and 405 with Allow for a known one.
  app.setNotFoundHandler(dispatch);
  return app;
}
