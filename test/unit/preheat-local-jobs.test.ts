// A preheat's --jobs reaches every node: the request carries it (checked like every other field)
// and each node's share fetches that many blobs at once. The manifest is parsed by shoal's own
// parser; the fetcher is a stand-in that records how many fetches overlap.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { LocalPreheat } from '../../src/distribute/preheat-local.ts';
import { MEDIA_TYPES, parseManifest } from '../../src/oci/index.ts';
import { DEFAULT_PREHEAT_JOBS, parsePreheatRequest, PreheatProtocolError, type PreheatRequest } from '../../src/swarm/index.ts';

const digestOf = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const LAYERS = 12;

function manifest(): ReturnType<typeof parseManifest> {
  const layers = Array.from({ length: LAYERS }, (_, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(`layer ${i}`), size: 100 + i }));
  const body = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf('config'), size: 10 }, layers });
  return parseManifest(Buffer.from(body), MEDIA_TYPES.ociManifest);
}

/** Runs a preheat of one image and returns the most fetches that were running at once. */
async function mostAtOnce(request: PreheatRequest): Promise<number> {
  const parsed = manifest();
  const stored = new Set<string>();
  let running = 0;
  let most = 0;
  const preheat = new LocalPreheat({
    manifests: { resolve: async () => ({ parsed }) as never },
    storedSize: async (digest) => (stored.has(digest.value) ? 1 : undefined),
    fetcher: {
      fetch: async ({ digest }) => {
        running += 1;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running -= 1;
        stored.add(digest.value);
        return undefined;
      },
    },
  });
  const result = await preheat.run(request, () => {}, new AbortController().signal);
  assert.deepEqual(result.map((image) => image.state), ['done']);
  return most;
}

describe('preheat --jobs', () => {
  const images = [{ name: 'app', reference: '1' }];

  test('each node fetches as many blobs at once as the request says, the default without one', async () => {
    assert.equal(await mostAtOnce(parsePreheatRequest({ images, jobs: 1 })), 1);
    assert.equal(await mostAtOnce(parsePreheatRequest({ images, jobs: 7 })), 7);
    assert.equal(await mostAtOnce(parsePreheatRequest({ images })), DEFAULT_PREHEAT_JOBS);
  });

  test('a request with a bad jobs count is refused, naming the field', () => {
    for (const jobs of [0, 33, 2.5, -1, '4', null]) {
      assert.throws(() => parsePreheatRequest({ images, jobs }), (error: unknown) => error instanceof PreheatProtocolError && /jobs must be a whole number from 1 to 32/.test(error.message), String(jobs));
    }
    assert.equal(parsePreheatRequest({ images, jobs: 32 }).jobs, 32);
  });
});
