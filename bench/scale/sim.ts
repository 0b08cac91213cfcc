// The discrete-event simulation of one image pulled by N hosts from one seed: a run is a pure
// function of its options (virtual clock, seeded randomness). See model.ts for what is real code
// and what is modelled.
import { DEFAULT_COMMITTEE_SIZE } from '../../src/swarm/committee.ts';
import { DEFAULT_BLOB_NEIGHBOURS } from '../../src/swarm/neighbours.ts';
import { createHash } from 'node:crypto';
import { BUSY_BACKOFF_MS, DEFAULT_MAX_ACTIVE_PIECES, DEFAULT_MAX_PER_PEER, DEFAULT_MAX_SEED_PIECES } from '../../src/distribute/piece-limits.ts';
import { LOAD_REPORT_MS } from '../../src/swarm/announcing-swarm.ts';
import { seededRandom, VirtualClock } from './clock.ts';
import { FrameSizes } from './control.ts';
import { HostEngine } from './engine-model.ts';
import { Links, SEED } from './links.ts';
import { dhtCost } from './model.ts';
import { Topology, type Mode } from './topology.ts';
import { World, type PieceOrder } from './world.ts';

const USAGE_SAMPLE_MS = 50;

/** piece-engine.ts's TICK_MS (not exported): an engine looks again this often while it waits. */
export const ENGINE_TICK_MS = 250;

export interface SimOptions {
  readonly hosts: number;
  readonly mode: Mode;
  readonly imageBytes: number;
  readonly pieceBytes: number;
  /** Every host's uplink and downlink. */
  readonly hostMbit: number;
  readonly seedMbit: number;
  /** One way, host to host, request or announcement. */
  readonly latencyMs: number;
  /** From a request to the seed to its first byte. */
  readonly seedRttMs: number;
  /** An engine runs at most one scheduling pass per this much virtual time. */
  readonly passGapMs: number;
  /** Hosts start pulling at uniform random moments in [0, jitterMs). */
  readonly jitterMs: number;
  readonly seed: number;
  /** capped: max-peer-connections. */
  readonly cap: number;
  /** bounded: neighbours per host per blob, and the owner committee's size. */
  readonly neighbours: number;
  readonly committee: number;
  /** The run stops at this multiple of the ideal time even if some host has not finished. */
  readonly limitFactor: number;
  /** The order hosts fetch their own pieces in (piece-engine.ts: lowest first). */
  readonly order: PieceOrder;
  /** Design study: own transfers at once per host other than the engine's DEFAULT_MAX_ACTIVE_PIECES. */
  readonly maxActive?: number;
}

export const SIM_DEFAULTS: Omit<SimOptions, 'hosts' | 'mode'> = {
  imageBytes: 1024 ** 3, pieceBytes: 4 * 1024 ** 2, hostMbit: 1000, seedMbit: 1000, latencyMs: 0.25, seedRttMs: 2,
  passGapMs: 2, jitterMs: 0, seed: 1, cap: 64, neighbours: DEFAULT_BLOB_NEIGHBOURS, committee: DEFAULT_COMMITTEE_SIZE, limitFactor: 20, order: 'lowest',
};

export interface HostFigures {
  readonly finishMs: number | undefined;
  readonly connections: number;
  readonly sentFrames: number;
  readonly sentBytes: number;
  readonly receivedFrames: number;
  readonly receivedBytes: number;
  readonly seedBytes: number;
  readonly peerBytes: number;
  /** Announcements the host made (each went to every connection), by kind. */
  readonly messages: Readonly<Record<string, number>>;
  /** Pieces the host holds at the end. */
  readonly pieces: number;
  /** bounded: peers whose progress the host hears (its blob neighbours that tell it). */
  readonly heard: number | undefined;
}

export interface SimResult {
  readonly options: SimOptions;
  readonly finished: number;
  readonly idealMs: number;
  readonly lastFinishMs: number;
  readonly medianFinishMs: number;
  readonly seedEgress: number;
  readonly hosts: readonly HostFigures[];
  readonly dht: { readonly framesPerHost: number; readonly bytesPerHost: number } | undefined;
  readonly counts: Readonly<Record<string, number>>;
  readonly events: number;
  readonly pieceCount: number;
  /** Time-averaged while hosts pull: the hosts' uplinks' share carrying pieces to peers, and the share of hosts sending to none. */
  readonly uplinkUse: number;
  readonly idleUploaders: number;
  /** Every USAGE_SAMPLE_MS while hosts pull: where the time goes (see TimelineSample). */
  readonly timeline: readonly TimelineSample[];
}

export interface TimelineSample {
  readonly ms: number;
  /** The seed's uplink share in use; the hosts' uplinks' share carrying pieces to peers; hosts sending to none. */
  readonly seedUse: number;
  readonly uplinkUse: number;
  readonly idleUploaders: number;
  /** Hosts finished; pieces held per host, mean; pieces some host holds (the swarm's). */
  readonly finished: number;
  readonly meanPieces: number;
  readonly swarmPieces: number;
}

export function runScaleSim(options: SimOptions): SimResult {
  const random = seededRandom(options.seed);
  const digest = `sha256:${createHash('sha256').update(`shoal scale sim ${options.seed}`).digest('hex')}`;
  const ids = Array.from({ length: options.hosts }, (_, i) => `host-${String(i).padStart(4, '0')}`);
  const clock = new VirtualClock();
  const hostBytesPerMs = (options.hostMbit * 1e6) / 8 / 1000;
  const links = new Links(clock, hostBytesPerMs, (options.seedMbit * 1e6) / 8 / 1000);
  const topology = new Topology({ mode: options.mode, hosts: options.hosts, cap: options.cap, neighbours: options.neighbours, committee: options.committee }, digest, ids, random);
  const world = new World({
    clock, links, topology, digest, ids, size: options.imageBytes, pieceSize: options.pieceBytes, order: options.order, random,
    sizes: new FrameSizes(digest, options.imageBytes, options.pieceBytes),
    params: {
      maxActive: options.maxActive ?? DEFAULT_MAX_ACTIVE_PIECES, maxPerPeer: DEFAULT_MAX_PER_PEER, maxSeed: DEFAULT_MAX_SEED_PIECES, busyBackoffMs: BUSY_BACKOFF_MS,
      tickMs: ENGINE_TICK_MS, passGapMs: options.passGapMs, latencyMs: options.latencyMs, seedRttMs: options.seedRttMs, loadReportMs: LOAD_REPORT_MS,
    },
  });
  for (let i = 0; i < options.hosts; i++) world.hosts.push(new HostEngine(world, i, ids[i]!));
  for (const host of world.hosts) clock.after(random() * options.jitterMs, () => host.pull());
  const idealMs = options.imageBytes / hostBytesPerMs;
  // Every 50 ms until the last host finishes: how much of the hosts' uplinks carries pieces to peers.
  const use = { samples: 0, uplink: 0, idle: 0 };
  const timeline: TimelineSample[] = [];
  const sample = (): void => {
    if (world.hosts.every((h) => h.finishedAt !== undefined)) return;
    const now = links.usage(options.hosts);
    use.samples += 1;
    use.uplink += now.peerRate / (options.hosts * hostBytesPerMs);
    use.idle += now.idleUploaders / options.hosts;
    timeline.push({
      ms: clock.now, seedUse: now.seedRate / ((options.seedMbit * 1e6) / 8 / 1000), uplinkUse: now.peerRate / (options.hosts * hostBytesPerMs), idleUploaders: now.idleUploaders / options.hosts,
      finished: world.hosts.filter((h) => h.finishedAt !== undefined).length, meanPieces: world.hosts.reduce((sum, h) => sum + h.completeCount, 0) / options.hosts,
      swarmPieces: world.swarmPieces(),
    });
    clock.after(USAGE_SAMPLE_MS, sample);
  };
  clock.after(USAGE_SAMPLE_MS, sample);
  let finished = 0;
  clock.runUntil(() => (finished = world.hosts.filter((h) => h.finishedAt !== undefined).length) === options.hosts, idealMs * options.limitFactor);
  world.finishCounts();
  const finishes = world.hosts.map((h) => h.finishedAt);
  const done = finishes.filter((f): f is number => f !== undefined).sort((a, b) => a - b);
  const counts: Record<string, number> = {};
  for (const host of world.hosts) for (const [k, v] of Object.entries(host.counts)) counts[k] = (counts[k] ?? 0) + v;
  return {
    options,
    finished,
    idealMs,
    lastFinishMs: done.at(-1) ?? Number.NaN,
    medianFinishMs: done[Math.floor(done.length / 2)] ?? Number.NaN,
    seedEgress: (links.sent.get(SEED) ?? 0) / options.imageBytes,
    hosts: world.hosts.map((h, i) => ({
      finishMs: finishes[i],
      connections: topology.connectionCount(i),
      ...pick(world.control[i]!),
      seedBytes: h.bytes.seed,
      messages: { ...world.control[i]!.messages },
      peerBytes: h.bytes.peers,
      pieces: h.completeCount,
      heard: topology.hears?.[i]!.length,
    })),
    dht: options.mode === 'bounded' ? dhtCost(options.hosts) : undefined,
    counts,
    events: clock.events,
    pieceCount: world.pieceCount,
    uplinkUse: use.uplink / Math.max(1, use.samples),
    idleUploaders: use.idle / Math.max(1, use.samples),
    timeline,
  };
}

function pick(c: { sentFrames: number; sentBytes: number; receivedFrames: number; receivedBytes: number }) {
  return { sentFrames: c.sentFrames, sentBytes: c.sentBytes, receivedFrames: c.receivedFrames, receivedBytes: c.receivedBytes };
}
