import { DockerCredentials } from '../../src/upstream/docker-credentials.ts';
import { UpstreamSet } from '../../src/upstream/upstreams.ts';
import { createTestRegistry, type TestRegistry } from './registry-app.ts';
import { startSeedRegistry, type SeedRegistry } from './seed-registry.ts';

/** A mirror (a registry app, not listening) in front of a real registry:2 seed. */
export interface TestMirror {
  readonly seed: SeedRegistry;
  readonly router: UpstreamSet;
  readonly registry: TestRegistry;
  /** Closes the app, the router and the seed (a stopped seed too). */
  close(): Promise<void>;
}

export async function startTestMirror(): Promise<TestMirror> {
  const seed = await startSeedRegistry();
  const router = new UpstreamSet([{ url: seed.url }], { dockerCredentials: DockerCredentials.empty(), upstreamTimeoutMs: 5000 });
  const registry = await createTestRegistry({ router });
  return {
    seed,
    router,
    registry,
    close: async () => {
      await registry.close();
      await router.close();
      await seed.stop();
    },
  };
}
