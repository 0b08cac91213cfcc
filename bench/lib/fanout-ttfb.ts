// Time to first byte of a random byte of a 1 MiB blob every host holds: from another host's
// peer data plane and from the seed, asked from inside a host (curl's own timings), idle and
// while the fan-out runs.
import type { ClusterNode, ClusterSeed } from '../../test/helpers/cluster.ts';
import { sleep } from '../../test/helpers/cluster/constants.ts';
import { timedRangeGet, type TimedRequest } from '../../test/helpers/cluster/host-client.ts';
import type { TestImage } from '../../test/helpers/images.ts';
import { spread, type Spread } from './fanout-report.ts';

type Samples = Spread & { readonly connectMedian: number; readonly samples: readonly TimedRequest[] };

export interface TtfbResult {
  readonly peer: Samples;
  readonly seed: Samples;
}

/** The warm image's repository and one layer of it: what the samples read. */
export interface TtfbTarget {
  readonly repo: string;
  readonly image: TestImage;
}

function ttfbOf(samples: readonly TimedRequest[]): Samples {
  const ok = samples.filter((s) => s.status === 206);
  const connect = spread(ok.map((s) => s.connectMs));
  return { ...spread(ok.map((s) => s.firstByteMs)), connectMedian: connect.median, samples };
}

/** One sample pair: a random byte of the warm layer from a peer's data plane and from the seed, both asked from `from`. */
async function ttfbPair(from: ClusterNode, to: ClusterNode, seed: ClusterSeed, target: TtfbTarget, timeoutMs: number): Promise<[TimedRequest, TimedRequest]> {
  const layer = target.image.layers[0]!;
  const offset = Math.floor(Math.random() * layer.size);
  const range = `${offset}-${offset}`;
  const peer = await timedRangeGet(from.host, `${to.peerUrl}/blobs/${layer.digest}`, range, timeoutMs);
  const fromSeed = await timedRangeGet(from.host, `${seed.url}/v2/${target.repo}/blobs/${layer.digest}?shoal-bench=ttfb`, range, timeoutMs);
  return [peer, fromSeed];
}

export async function idleTtfb(nodes: readonly ClusterNode[], seed: ClusterSeed, target: TtfbTarget, rounds: number): Promise<TtfbResult> {
  const peer: TimedRequest[] = [];
  const fromSeed: TimedRequest[] = [];
  const n = nodes.length;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) {
      const [p, s] = await ttfbPair(nodes[i]!, nodes[(i + 1 + (r % (n - 1))) % n]!, seed, target, 10_000);
      peer.push(p);
      fromSeed.push(s);
    }
  }
  return { peer: ttfbOf(peer), seed: ttfbOf(fromSeed) };
}

/** The same samples, back to back (200 ms apart), while the fan-out runs: busy peers, busy links. */
export function loadedTtfb(nodes: readonly ClusterNode[], seed: ClusterSeed, target: TtfbTarget): { stop(): Promise<TtfbResult> } {
  const peer: TimedRequest[] = [];
  const fromSeed: TimedRequest[] = [];
  let running = true;
  const n = nodes.length;
  const loop = (async () => {
    await sleep(500);
    for (let k = 0; running; k++) {
      const [p, s] = await ttfbPair(nodes[k % n]!, nodes[(k + 1 + (Math.floor(k / n) % (n - 1))) % n]!, seed, target, 10_000);
      if (!running) break;
      peer.push(p);
      fromSeed.push(s);
      await sleep(200);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { peer: ttfbOf(peer), seed: ttfbOf(fromSeed) };
    },
  };
}

/** The JSON form: figures and the successful samples' first-byte times, not every sample. */
export function stripSamples(r: TtfbResult): object {
  const strip = (s: Samples) => ({ n: s.n, min: s.min, median: s.median, p95: s.p95, max: s.max, connectMedian: s.connectMedian, failed: s.samples.filter((x) => x.status !== 206).length, firstByteMs: s.samples.filter((x) => x.status === 206).map((x) => Math.round(x.firstByteMs * 10) / 10) });
  return { peer: strip(r.peer), seed: strip(r.seed) };
}
