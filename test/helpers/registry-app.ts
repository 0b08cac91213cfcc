import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createRegistryServices } from '../../src/daemon/services.ts';
import type { UpstreamRouter } from '../../src/distribute/types.ts';
import { buildRegistryApp } from '../../src/http/app.ts';
import { Store } from '../../src/store/index.ts';
import { DockerCredentials } from '../../src/upstream/docker-credentials.ts';
import { UpstreamSet } from '../../src/upstream/upstreams.ts';

/** A standalone node's router: no upstream, no registry allowed. */
export const NO_UPSTREAMS: UpstreamRouter = new UpstreamSet([], { dockerCredentials: DockerCredentials.empty() });

export interface TestRegistry {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly dataDir: string;
  close(): Promise<void>;
}

/** A registry app over a fresh temp data directory, not listening: use `app.inject()`. */
export async function createTestRegistry(options: { router?: UpstreamRouter; dataDir?: string; maxUploadBytes?: number; tagTimeoutMs?: number } = {}): Promise<TestRegistry> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'shoal-test-')));
  const { store } = await Store.open(dataDir);
  const logger = pino({ level: process.env.SHOAL_TEST_LOG ?? 'silent' });
  const services = createRegistryServices({
    store,
    router: options.router ?? NO_UPSTREAMS,
    logger,
    tagTimeoutMs: options.tagTimeoutMs ?? 1000,
    maxUploadBytes: options.maxUploadBytes ?? 0,
  });
  const app = buildRegistryApp(services);
  await app.ready();
  return {
    app,
    store,
    dataDir,
    close: async () => {
      await app.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
