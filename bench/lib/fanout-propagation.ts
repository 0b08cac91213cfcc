// Announcement propagation: a small image pushed to one host, until each other host's daemon
// resolves its tag from the swarm. The swarm logs nothing when an announcement arrives, so each
// host polls its own daemon with fanout-probe.ts, started before the push.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ClusterNode } from '../../test/helpers/cluster.ts';
import { LOCAL_REGISTRY, REGISTRY_PORT, ROOT, sleep } from '../../test/helpers/cluster/constants.ts';
import { exitOf, pushArgs, spawnSkopeo } from '../../test/helpers/cluster/host-client.ts';
import { MANIFEST_TYPES, makeImage, makeTarLayer, randomBytesFrom, writeOciLayout } from '../../test/helpers/images.ts';
import type { TestHost } from '../../test/helpers/netns.ts';
import { progress } from './fanout-report.ts';
import type { Sampler } from './fanout-sampler.ts';

const FANOUT_PROBE = join(import.meta.dirname, 'fanout-probe.ts');

export interface PropagationSample {
  readonly push: number;
  readonly origin: string;
  readonly receiver: string;
  /** ms from the origin's 'manifest pushed' log line to the receiver's first 200 */
  readonly ms: number;
  /** ms from skopeo's exit on the origin to the receiver's first 200 */
  readonly afterSkopeoMs: number;
  readonly polls: number;
}

export interface Propagation {
  readonly samples: PropagationSample[];
  readonly failures: string[];
  readonly pushMs: number[];
}

interface ProbeResult {
  readonly ok: boolean;
  readonly sentAt: number;
  readonly at: number;
  readonly polls: number;
  readonly why?: string;
}

function startProbe(host: TestHost, url: string, pollMs: number, timeoutMs: number, accept: string): { ready: Promise<void>; result: Promise<ProbeResult> } {
  const child = host.spawnNode(FANOUT_PROBE, ['poll', url, String(pollMs), String(timeoutMs), accept], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let markReady: () => void = () => {};
  const ready = new Promise<void>((r) => (markReady = r));
  let result: ProbeResult | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'READY') return markReady();
    try {
      result = JSON.parse(line) as ProbeResult;
    } catch {
      // ignore
    }
  });
  const done = exitOf(child, timeoutMs + 10_000).then(() => {
    markReady();
    return result ?? { ok: false, sentAt: 0, at: 0, polls: 0, why: `probe exited without a result: ${stderr.slice(-500)}` };
  });
  return { ready, result: done };
}

export async function propagation(nodes: readonly ClusterNode[], workDir: string, pushes: number, pollMs: number, sampler: Sampler): Promise<Propagation> {
  const samples: PropagationSample[] = [];
  const failures: string[] = [];
  const pushMs: number[] = [];
  const n = nodes.length;
  for (let k = 0; k < pushes; k++) {
    const origin = nodes[k % n]!;
    const repo = `bench/prop${k}`;
    const image = await makeImage({
      layers: [makeTarLayer([{ name: `prop-${k}.bin`, content: randomBytesFrom(`fanout-prop-${k}-${Date.now()}`, 256 * 1024) }], 'oci')],
      seed: `fanout-prop-${k}-${Date.now()}`,
      format: 'oci',
    });
    const layout = join(workDir, `prop-${k}`);
    await writeOciLayout(layout, image, 'x');
    const url = `${LOCAL_REGISTRY}/v2/${repo}/manifests/1`;
    const probes = nodes.map((d) => ({ node: d, ...startProbe(d.host, url, pollMs, 20_000, MANIFEST_TYPES.oci) }));
    await Promise.all(probes.map((p) => p.ready));
    await sleep(300); // let the probes' start-up CPU burst pass
    const push = await spawnSkopeo(origin.host, pushArgs(layout, `docker://127.0.0.1:${REGISTRY_PORT}/${repo}:1`), 60_000, (pid) => sampler.watch(pid, 'skopeo-push', origin.name));
    const results = await Promise.all(probes.map(async (p) => ({ node: p.node, result: await p.result })));
    await rm(layout, { recursive: true, force: true });
    if (!push.ok) {
      failures.push(`push ${k} to ${origin.name} failed: ${push.stderr.slice(-500)}`);
      continue;
    }
    pushMs.push(push.endedAt - push.startedAt);
    const pushedLine = origin.logs().find((l) => l.msg === 'manifest pushed' && l.repository === repo);
    const pushedAt = typeof pushedLine?.time === 'number' ? pushedLine.time : undefined;
    if (pushedAt === undefined) failures.push(`push ${k}: no 'manifest pushed' log line on ${origin.name}; using skopeo's exit as the reference`);
    const reference = pushedAt ?? push.endedAt;
    const lines: string[] = [];
    for (const { node, result } of results) {
      if (node === origin) {
        lines.push(`${node.name}(origin) ${result.ok ? `${result.at - reference} ms` : result.why}`);
        continue;
      }
      if (!result.ok) {
        failures.push(`push ${k} from ${origin.name}: ${node.name} never resolved ${repo}:1 (${result.why ?? 'no result'})`);
        lines.push(`${node.name} FAILED`);
        continue;
      }
      samples.push({ push: k, origin: origin.name, receiver: node.name, ms: result.at - reference, afterSkopeoMs: result.at - push.endedAt, polls: result.polls });
      lines.push(`${node.name} ${result.at - reference} ms`);
    }
    progress(`[propagation] push ${k + 1}/${pushes} to ${origin.name} (skopeo ${push.endedAt - push.startedAt} ms): ${lines.join(', ')}`);
    await sleep(300);
  }
  return { samples, failures, pushMs };
}
