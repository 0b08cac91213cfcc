// Fan-out: N hosts pull one image at the same moment, through their shoal daemons (the swarm), and
// — in the same run, on the same (fresh) hosts, before any daemon runs — straight from the seed
// registry (the baseline). Every host is a network namespace on a bridged test LAN
// (test/helpers/netns.ts); every host link and the seed's link are shaped with tc (htb) to the same
// rate. Measured:
//   - last-finish time / ideal (ideal = image bytes / link rate), shoal and baseline
//   - seed egress / image bytes, from the seed's access log (blob GETs), shoal and baseline
//   - per-host finish times, bytes from the seed, from peers and served to peers (each daemon's
//     GET /_shoal/status)
//   - time to first byte of a 1-byte range from a peer's data plane vs the seed (curl from another
//     host; idle, and during the fan-out)
//   - announcement propagation: a small image pushed to one host, until each other host's daemon
//     resolves its tag from the swarm (the swarm logs nothing when an announcement arrives, so each
//     host polls its own daemon with bench/lib/fanout-probe.ts)
//   - daemon RSS (VmRSS every 0.5 s, VmHWM; V8 heap from its /metrics), machine CPU split by who used it (this is a shared
//     2-core machine), bytes on every switch port
// Progress on stderr, the tables on stdout, JSON in bench/results/fanout-<time>.json and fanout-latest.json.
//
//   node bench/fanout.bench.ts [--quick] [--hosts N] [--rate-mbit R] [--image-mib M] [--pushes K]
//        [--poll-ms MS] [--ttfb-rounds N] [--no-baseline] [--wait-quiet S] [--work-dir DIR] [--label TEXT]
//        [--cpu-prof[=DIR]] [--transfers] [--fanout-only]
// --quick: 3 hosts, 32 MiB, 100 Mbit/s, 3 pushes. --wait-quiet S (default 60, 0 = off): before each
// measured phase wait up to S seconds for other processes to use < 0.25 cores. The work dir defaults
// to /dev/shm (one shared disk would otherwise be a bottleneck no real LAN has). --cpu-prof: the
// daemons run under V8's profiler (one .cpuprofile per host, default dir bench/results/
// fanout-profiles-<time>); their samples during the shoal fan-out are summed and printed at the end.
// --transfers: the daemons log at debug, and every piece transfer of the fan-out is printed, piece
// by piece (bench/lib/fanout-transfers.ts). --fanout-only: the shoal fan-out alone (no time to first
// byte, propagation or memory), for interleaved A/B runs and series; its figures in
// bench/results/fanout-only-<time>.json.
// Needs root, iproute2, curl, skopeo, docker-registry.
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { startCluster, type Cluster, type ClusterNode, type ClusterSeed } from '../test/helpers/cluster.ts';
import { REGISTRY_PORT, sleep } from '../test/helpers/cluster/constants.ts';
import type { MemoryFigures } from '../test/helpers/cluster/metrics.ts';
import { selectBlobGets, sumBytes } from '../test/helpers/cluster/seed-host.ts';
import { makeImage, type TestImage } from '../test/helpers/images.ts';
import { LinkSampler, type LinkReport } from './lib/fanout-links.ts';
import { layerSizes, parseOptions, workBase, type Options } from './lib/fanout-options.ts';
import { renderText, saveJson, type FanoutRun } from './lib/fanout-output.ts';
import { cpuSummary, describeCpu, fanOut, waitQuiet, type Lan, type QuietWait } from './lib/fanout-phase.ts';
import { markWindow, profileDaemons, renderSummary, summarise } from './lib/fanout-profile.ts';
import { propagation } from './lib/fanout-propagation.ts';
import { MiB, fmt, mib, progress } from './lib/fanout-report.ts';
import { Sampler } from './lib/fanout-sampler.ts';
import { renderTransfers, transferLines } from './lib/fanout-transfers.ts';
import { writeBenchResult } from './lib/results.ts';
import { daemonMemory, daemonMemoryReport, messageCountsReport, shoalHostResults, startSwarm } from './lib/fanout-swarm.ts';
import { idleTtfb, loadedTtfb, type TtfbTarget } from './lib/fanout-ttfb.ts';
import { buildDaemon } from './lib/servers.ts';

const REPO = 'bench/fanout';
const TAG = '1';
/** A 1 MiB image every host pulls before the fan-out: the blob the time-to-first-byte samples read. */
const WARM_REPO = 'bench/warm';

/** What every step needs once the LAN is up. */
interface Bench {
  readonly options: Options;
  readonly workDir: string;
  readonly cluster: Cluster;
  readonly seed: ClusterSeed;
  readonly lan: Lan;
  readonly links: LinkSampler;
  readonly image: TestImage;
  readonly warm: TtfbTarget;
  readonly imageBytes: number;
  /** image bytes / link rate */
  readonly idealS: number;
  readonly pullTimeoutMs: number;
  readonly quiet: Record<string, QuietWait>;
  readonly notes: string[];
}

/** A work dir for the run, removed at exit, on ^C and on SIGTERM. */
async function makeWorkDir(options: Options): Promise<{ workDir: string; base: string }> {
  // seed copy + generated layers + every host's store and pull output (the baseline's are removed first)
  const base = workBase(options.workDir, options.imageMib * MiB * (2 + 2 * options.hosts));
  const workDir = await mkdtemp(join(base, 'shoal-fanout-'));
  process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: removing namespaces, processes and ${workDir}\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143); // netns.ts's exit hook kills and deletes the namespaces
    });
  }
  return { workDir, base };
}

const mkdirP = async (dir: string): Promise<string> => (await mkdir(dir, { recursive: true }), dir);

/** Step 1: the images, the LAN with the seed serving them (no daemons yet), the sampler. */
async function startLan(options: Options, workDir: string): Promise<Bench> {
  const sizes = layerSizes(options.imageMib);
  progress(`fanout: ${options.hosts} hosts, ${options.rateMbit} Mbit/s links, image ${options.imageMib} MiB (layers ${sizes.map((s) => mib(s)).join(' + ')} MiB), work dir ${workDir}`);
  const image = await makeImage({ layers: sizes, seed: `fanout-${options.imageMib}`, dir: join(workDir, 'image'), fileThreshold: MiB });
  const warm = await makeImage({ layers: [MiB], seed: 'fanout-warm' });
  const cluster = await startCluster({
    hosts: options.hosts,
    rateMbit: options.rateMbit,
    prefix: 'shoalfan',
    workDir,
    seed: { images: [{ repo: REPO, tag: TAG, image }, { repo: WARM_REPO, tag: TAG, image: warm }], logLevel: 'warn' },
    daemons: false,
    // Only --transfers needs debug, and it costs CPU on a 2-core machine.
    logLevel: options.transfers ? 'debug' : 'info',
    deployedRuntime: true,
    meshTimeoutMs: 30_000,
  });
  const seed = cluster.seed!;
  const sampler = new Sampler(cluster.net.switchNamespace, () => cluster.net.namespaces());
  sampler.watch(process.pid, 'bench', 'root');
  sampler.start();
  sampler.watch(seed.pid, 'seed', 'seed');
  const links = new LinkSampler(cluster.net.switchNamespace);
  links.start();
  await rm(join(workDir, 'image'), { recursive: true, force: true });
  const imageBytes = image.blobs.reduce((s, b) => s + b.size, 0);
  const idealS = (imageBytes * 8) / (options.rateMbit * 1e6);
  progress(`image ${mib(imageBytes, 2)} MiB in the seed; ideal = ${fmt(idealS)} s at ${options.rateMbit} Mbit/s`);
  return {
    options,
    workDir,
    cluster,
    seed,
    lan: { hosts: cluster.net.hosts.filter((h) => h !== seed.host), seedHost: seed.host, sampler },
    links,
    image,
    warm: { repo: WARM_REPO, image: warm },
    imageBytes,
    idealS,
    pullTimeoutMs: Math.max(120_000, 6 * options.hosts * idealS * 1000),
    quiet: {},
    notes: [],
  };
}

/** Each link's use from the pull's start to the last host's finish: seed uplink, then every host's down- and uplink. */
function linkUse(b: Bench, t0: number, lastFinishS: number): LinkReport {
  const links: Array<readonly [string, string, 'up' | 'down']> = [['seed up', b.seed.host.switchPort, 'up']];
  for (const h of b.lan.hosts) links.push([`${h.name} down`, h.switchPort, 'down'], [`${h.name} up`, h.switchPort, 'up']);
  return b.links.report(links, t0, t0 + lastFinishS * 1000, b.options.rateMbit);
}

/** Step 2: the same hosts, no daemons, skopeo straight from the seed. */
async function runBaseline(b: Bench): Promise<NonNullable<FanoutRun['baseline']> & { links: LinkReport }> {
  b.quiet.baseline = await waitQuiet(b.lan.sampler, 'baseline', b.options.waitQuietS);
  progress(`[baseline] ${b.options.hosts} hosts pull ${REPO}:${TAG} straight from the seed`);
  const source = `docker://${b.seed.address}:${REGISTRY_PORT}/${REPO}:${TAG}`;
  const fan = await fanOut(b.lan, b.seed, { tag: 'baseline', source: () => source, outDir: join(b.workDir, 'baseline-out'), timeoutMs: b.pullTimeoutMs, imageBytes: b.imageBytes, idealS: b.idealS });
  progress(`[baseline] last finish ${fmt(fan.phase.lastFinishS)} s = ${fmt(fan.phase.lastFinishOverIdeal)} × ideal; seed sent ${fmt(fan.phase.seedEgressOverImage)} × the image; ${describeCpu(fan.phase.cpu)}`);
  await sleep(1_000);
  return { phase: fan.phase, hosts: fan.hosts, links: linkUse(b, fan.t0, fan.phase.lastFinishS) };
}

/** Step 4: every host pulls through its daemon, while first-byte samples run; per-host figures from the daemons' status. */
async function runShoal(b: Bench, nodes: readonly ClusterNode[], idle: readonly MemoryFigures[]) {
  await sleep(1_000);
  b.quiet.shoal = await waitQuiet(b.lan.sampler, 'shoal', b.options.waitQuietS);
  const before = await Promise.all(nodes.map((d) => d.figures()));
  const loaded = loadedTtfb(nodes, b.seed, b.warm);
  const source = `docker://127.0.0.1:${REGISTRY_PORT}/${REPO}:${TAG}`;
  const fan = await fanOut(b.lan, b.seed, { tag: 'shoal', source: () => source, outDir: join(b.workDir, 'shoal-out'), timeoutMs: b.pullTimeoutMs, imageBytes: b.imageBytes, idealS: b.idealS });
  if (b.options.cpuProfDir) markWindow(b.options.cpuProfDir, fan.t0, fan.tEnd, new Map(nodes.map((d) => [d.pid, d.name])));
  const duringFanout = await loaded.stop();
  const after = await Promise.all(nodes.map((d) => d.figures()));
  const seedPerBlob = b.image.blobs.map((blob) => {
    const gets = selectBlobGets(fan.requests, { digests: [blob.digest] });
    // When each GET's response ended (its access-log line was read), seconds from the start: seed
    // pieces that end late make the fan-out's tail (every host then waits for them).
    const endedS = gets.map((g) => Math.round(g.at - fan.t0) / 1000).sort((x, y) => x - y);
    return { digest: blob.digest, size: blob.size, seedBytes: sumBytes(gets), gets: gets.length, endedS };
  });
  const ended = seedPerBlob.flatMap((blob) => blob.endedS).sort((x, y) => x - y);
  progress(`[shoal] seed GETs ended at (s): ${ended.map((t) => fmt(t)).join(' ')}`);
  // When each daemon had the image's manifest from the seed: a host's pull starts there, and behind
  // the first hosts' blob reads on the seed's link that took a second and more on a loaded machine.
  const manifestS = nodes.map((d) => {
    const line = d.runLogs().find((l) => l.msg === 'manifest fetched from seed' && l.repository === REPO && typeof l.time === 'number' && l.time >= fan.t0);
    return line === undefined ? undefined : Math.round((line.time as number) - fan.t0) / 1000;
  });
  const manifests = `manifest from the seed at (s after the start): ${nodes.map((d, i) => `${d.name} ${fmt(manifestS[i])}`).join(', ')}`;
  progress(`[shoal] ${manifests}`);
  b.notes.push(`shoal fan-out: ${manifests}`);
  progress(`[shoal] last finish ${fmt(fan.phase.lastFinishS)} s = ${fmt(fan.phase.lastFinishOverIdeal)} × ideal; seed sent ${fmt(fan.phase.seedEgressOverImage)} × the image; ${describeCpu(fan.phase.cpu)}`);
  const links = linkUse(b, fan.t0, fan.phase.lastFinishS);
  if (b.options.transfers) {
    const digests = b.image.blobs.map((blob) => blob.digest);
    const lines = transferLines(nodes, fan.t0, digests);
    process.stdout.write(renderTransfers(lines, nodes.map((d) => d.name), digests));
    progress(`[shoal] every piece transfer in ${await writeBenchResult('fanout-transfers', { digests, transfers: lines })}`);
  }
  const hosts = shoalHostResults(nodes, fan, before, after, idle, b.lan.sampler, b.image);
  const sum = (f: (h: (typeof hosts)[number]) => number): string => fmt(hosts.reduce((total, h) => total + f(h), 0), 1);
  progress(`[shoal] CPU-s over the fan-out: daemons ${sum((h) => h.daemonCpuS)}, skopeo ${sum((h) => h.skopeoCpuS)}`);
  return { phase: fan.phase, hosts, seedPerBlob, duringFanout, links };
}

/** Step 6: announcement propagation, with the CPU it took. */
async function runPropagation(b: Bench, nodes: readonly ClusterNode[]) {
  b.quiet.propagation = await waitQuiet(b.lan.sampler, 'propagation', b.options.waitQuietS);
  progress(`[propagation] ${b.options.pushes} pushes of a small image, every host polling its daemon every ${b.options.pollMs} ms`);
  const started = Date.now();
  const result = await propagation(nodes, b.workDir, b.options.pushes, b.options.pollMs, b.lan.sampler);
  b.notes.push(...result.failures);
  return { result, cpu: cpuSummary(b.lan.sampler, started, Date.now()) };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  buildDaemon(options.cpuProfDir !== undefined);
  const { workDir, base } = await makeWorkDir(options);
  let b: Bench | undefined;
  try {
    b = await startLan(options, workDir);
    const baseline = options.baseline ? await runBaseline(b) : undefined;
    // 3. One daemon per host, full mesh, the warm-up image everywhere.
    const unprofile = options.cpuProfDir ? profileDaemons(await mkdirP(options.cpuProfDir)) : () => undefined;
    const idle = await startSwarm(b.cluster, options.hosts, b.lan.sampler, `${WARM_REPO}:${TAG}`, workDir).finally(unprofile);
    const nodes = b.cluster.nodes;
    const shoal = await runShoal(b, nodes, idle);
    if (options.fanoutOnly) {
      // The fan-out's figures alone, in the shape bench:fanout:series reads (shoal, baseline.phase).
      const only = { options, imageBytes: b.imageBytes, idealS: b.idealS, baseline: baseline && { phase: baseline.phase, hosts: baseline.hosts }, shoal: shoal.phase, hosts: shoal.hosts, seedPerBlob: shoal.seedPerBlob, notes: b.notes };
      process.stdout.write(`\nJSON: ${await writeBenchResult('fanout-only', only)}\n`);
      return;
    }
    // 5. Time to first byte, idle swarm.
    progress(`[ttfb] ${options.ttfbRounds * options.hosts} samples each against peers and the seed (idle)`);
    const idleTtfbResult = await idleTtfb(nodes, b.seed, b.warm, options.ttfbRounds);
    const prop = await runPropagation(b, nodes);
    // 7. Memory, then stop everything.
    await b.lan.sampler.sample();
    await b.lan.sampler.stop();
    const memory = daemonMemoryReport(nodes, b.lan.sampler, idle, await daemonMemory(nodes));
    const run: FanoutRun = {
      options,
      workDirBase: base,
      imageRef: `${REPO}:${TAG}`,
      image: b.image,
      imageBytes: b.imageBytes,
      idealS: b.idealS,
      baseline: baseline && { phase: baseline.phase, hosts: baseline.hosts },
      shoal: shoal.phase,
      hosts: shoal.hosts.map((h, i) => ({ ...h, rssMaxMiB: memory[i]!.rssMaxMiB, rssHwmMiB: memory[i]!.rssHwmMiB })),
      memory,
      seedPerBlob: shoal.seedPerBlob,
      ttfb: { idle: idleTtfbResult, duringFanout: shoal.duringFanout },
      propagation: prop.result,
      propagationCpu: prop.cpu,
      waitForQuiet: b.quiet,
      notes: b.notes,
      links: { baseline: baseline?.links, shoal: shoal.links },
    };
    process.stdout.write(renderText(run));
    const file = await saveJson(run);
    process.stdout.write(`\nJSON: ${file}\n      ${join(dirname(file), 'fanout-latest.json')}\n`);
  } catch (error) {
    if (b) process.stderr.write(`${b.cluster.logTails(15)}\n`);
    throw error;
  } finally {
    if (b) {
      b.links.stop();
      await b.lan.sampler.stop();
      await Promise.allSettled(b.cluster.nodes.map((d) => d.stop(5_000)));
      process.stdout.write(messageCountsReport(b.cluster.nodes));
      await b.cluster.dispose().catch((e: unknown) => process.stderr.write(`cleanup: ${String(e)}\n`));
    }
    rmSync(workDir, { recursive: true, force: true });
    progress('cleaned up: namespaces, processes, work dir');
  }
  // The daemons wrote their profiles as they exited.
  if (options.cpuProfDir && existsSync(join(options.cpuProfDir, 'window.json'))) {
    process.stdout.write(`\nCPU profiles: ${options.cpuProfDir}\n${renderSummary(summarise(options.cpuProfDir))}`);
  }
}

main().catch((error: unknown) => {
  // Exits rather than sets the exit code: a failed run left handles open and never ended.
  process.stderr.write(`fanout benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`, () => process.exit(1));
});
