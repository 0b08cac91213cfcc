// What the TLS tests share: certificates from openssl (an internal CA and its leaves, a self-signed
// one, a leaf for another name, an expired one, a client CA and client) and docker-registry seeds
// serving one pushed image over HTTPS with any of them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCa, makeLeaf, type CertFiles } from './certs.ts';
import { makeImage, pushImage, type TestImage } from './images.ts';
import { startSeedRegistry, type SeedRegistry, type SeedTls } from './seed-registry.ts';

export interface TlsFixtures {
  readonly dir: string;
  /** `library/hello:1`, served by every seed. */
  readonly image: TestImage;
  readonly ca: CertFiles;
  /** Signed by `ca` for IP 127.0.0.1. */
  readonly leaf: CertFiles;
  readonly selfSigned: CertFiles;
  /** Signed by `ca` for seed.example only. */
  readonly wrongName: CertFiles;
  readonly expired: CertFiles;
  readonly clientCa: CertFiles;
  /** A client certificate signed by `clientCa`. */
  readonly client: CertFiles;
  /** A seed serving the image over HTTPS; stopped by cleanup(). */
  serve(tls: SeedTls): Promise<SeedRegistry>;
  cleanup(): Promise<void>;
}

export async function tlsFixtures(prefix: string): Promise<TlsFixtures> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const ca = await makeCa(dir, 'internal-ca');
  const clientCa = await makeCa(dir, 'client-ca');
  // One after another: signing with a CA rewrites its serial file.
  const leaf = await makeLeaf(dir, 'seed', { ca, san: ['IP:127.0.0.1'] });
  const selfSigned = await makeLeaf(dir, 'self-signed', { san: ['IP:127.0.0.1'] });
  const wrongName = await makeLeaf(dir, 'wrong-name', { ca, san: ['DNS:seed.example'] });
  const expired = await makeLeaf(dir, 'expired', { ca, san: ['IP:127.0.0.1'], expired: true });
  const client = await makeLeaf(dir, 'client', { ca: clientCa, client: true });
  // The image goes in over plain HTTP; the TLS seeds then serve the same storage.
  const data = join(dir, 'data');
  const plain = await startSeedRegistry({ dataDir: data });
  const image = await makeImage({ layers: [32 * 1024], seed: prefix });
  try {
    await pushImage(plain.url, 'library/hello', '1', image);
  } finally {
    await plain.stop();
  }
  const seeds: SeedRegistry[] = [];
  return {
    dir, image, ca, leaf, selfSigned, wrongName, expired, clientCa, client,
    serve: async (tls) => {
      const seed = await startSeedRegistry({ dataDir: data, tls });
      seeds.push(seed);
      return seed;
    },
    cleanup: async () => {
      for (const seed of seeds) await seed.stop();
      await image.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
