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
import { ServeSlots } from '../../src/distribute/serve-slots.ts';
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
  /** Design study: transfers at once from one peer, and own seed transfers, other than DEFAULT_MAX_PER_PEER and DEFAULT_MAX_SEED_PIECES. */
  readonly maxPerPeer?: number;
  readonly maxSeed?: number;
  /** Design study (piece-spread.ts): how long a host leaves a busy lone holder's piece to the host ranked first; 0 (default): off, as the engine. */
  readonly spreadWaitMs?: number;
  /**
   * The image's blobs (bytes each, summing to imageBytes): one piece engine per blob on every
   * host, as a pull of several layers runs (default one blob). Owners are balanced per blob, so a
   * host may own more of the whole image than its share (bench:fanout's 10 + 4 + 2 pieces).
   */
  readonly layers?: readonly number[];
  /** Called every sample while hosts pull, with each host's uplink and downlink share in use (a study's trace). */
  readonly trace?: (ms: number, use: { up: number[]; down: number[] }) => void;
}

export const SIM_DEFAULTS: Omit<SimOptions, 'hosts' | 'mode'> = {
  imageBytes: 1024 ** 3, pieceBytes: 4 * 1024 ** 2, hostMbit: 1000, seedMbit: 1000, latencyMs: 0.25, seedRttMs: 2,
  passGapMs: 2, jitterMs: 0, seed: 1, cap: 64, neighbours: DEFAULT_BLOB_NEIGHBOURS, committee: DEFAULT_COMMITTEE_SIZE, limitFactor: 20, order: 'lowest',
};

export interface HostFigures {
  /** When the host's pull started (hosts start up to jitterMs apart). */
  readonly startMs: number | undefined;
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
  const layers = options.layers ?? [options.imageBytes];
  if (layers.reduce((a, b) => a + b, 0) !== options.imageBytes) throw new Error(`layers sum to ${layers.reduce((a, b) => a + b, 0)} bytes, not the image's ${options.imageBytes}`);
  const ids = Array.from({ length: options.hosts }, (_, i) => `host-${String(i).padStart(4, '0')}`);
  const clock = new VirtualClock();
  const hostBytesPerMs = (options.hostMbit * 1e6) / 8 / 1000;
  const links = new Links(clock, hostBytesPerMs, (options.seedMbit * 1e6) / 8 / 1000);
  const blobDigest = (layer: number) => `sha256:${createHash('sha256').update(layers.length === 1 ? `shoal scale sim ${options.seed}` : `shoal scale sim ${options.seed} layer ${layer}`).digest('hex')}`;
  const topology = new Topology({ mode: options.mode, hosts: options.hosts, cap: options.cap, neighbours: options.neighbours, committee: options.committee }, blobDigest(0), ids, random);
  const params = {
    maxActive: options.maxActive ?? DEFAULT_MAX_ACTIVE_PIECES, maxPerPeer: options.maxPerPeer ?? DEFAULT_MAX_PER_PEER, maxSeed: options.maxSeed ?? DEFAULT_MAX_SEED_PIECES, busyBackoffMs: BUSY_BACKOFF_MS,
    tickMs: ENGINE_TICK_MS, passGapMs: options.passGapMs, latencyMs: options.latencyMs, seedRttMs: options.seedRttMs, loadReportMs: LOAD_REPORT_MS,
    spreadWaitMs: options.spreadWaitMs ?? 0,
  };
  // A host serves every blob from one set of slots (its data plane's), and tells one load.
  const slots = ids.map(() => new ServeSlots());
  const worlds = layers.map((size, layer) => {
    const digest = blobDigest(layer);
    const world = new World({ clock, links, topology, digest, ids, size, pieceSize: options.pieceBytes, order: options.order, random, sizes: new FrameSizes(digest, size, options.pieceBytes), params, countsLoad: layer === 0 });
    for (let i = 0; i < options.hosts; i++) world.hosts.push(new HostEngine(world, i, ids[i]!, slots[i]!));
    return world;
  });
  const finishOf = (h: number): number | undefined => {
    let last = 0;
    for (const w of worlds) {
      const at = w.hosts[h]!.finishedAt;
      if (at === undefined) return undefined;
      last = Math.max(last, at);
    }
    return last;
  };
  const allFinished = (): boolean => worlds.every((w) => w.hosts.every((h) => h.finishedAt !== undefined));
  for (let i = 0; i < options.hosts; i++) clock.after(random() * options.jitterMs, () => worlds.forEach((w) => w.hosts[i]!.pull()));
  const idealMs = options.imageBytes / hostBytesPerMs;
  // Every 50 ms until the last host finishes: how much of the hosts' uplinks carries pieces to peers.
  const use = { samples: 0, uplink: 0, idle: 0 };
  const timeline: TimelineSample[] = [];
  const sample = (): void => {
    if (allFinished()) return;
    const now = links.usage(options.hosts);
    use.samples += 1;
    use.uplink += now.peerRate / (options.hosts * hostBytesPerMs);
    use.idle += now.idleUploaders / options.hosts;
    if (options.trace) {
      const rates = links.hostRates(options.hosts);
      options.trace(clock.now, { up: rates.up.map((r) => r / hostBytesPerMs), down: rates.down.map((r) => r / hostBytesPerMs) });
    }
    timeline.push({
      ms: clock.now, seedUse: now.seedRate / ((options.seedMbit * 1e6) / 8 / 1000), uplinkUse: now.peerRate / (options.hosts * hostBytesPerMs), idleUploaders: now.idleUploaders / options.hosts,
      finished: ids.filter((_, h) => finishOf(h) !== undefined).length,
      meanPieces: worlds.reduce((sum, w) => sum + w.hosts.reduce((s, h) => s + h.completeCount, 0), 0) / options.hosts,
      swarmPieces: worlds.reduce((sum, w) => sum + w.swarmPieces(), 0),
    });
    clock.after(USAGE_SAMPLE_MS, sample);
  };
  clock.after(USAGE_SAMPLE_MS, sample);
  let finished = 0;
  clock.runUntil(() => (finished = ids.filter((_, h) => finishOf(h) !== undefined).length) === options.hosts, idealMs * options.limitFactor);
  for (const w of worlds) w.finishCounts();
  const finishes = ids.map((_, h) => finishOf(h));
  const done = finishes.filter((f): f is number => f !== undefined).sort((a, b) => a - b);
  const counts: Record<string, number> = {};
  for (const w of worlds) for (const host of w.hosts) for (const [k, v] of Object.entries(host.counts)) counts[k] = (counts[k] ?? 0) + v;
  return {
    options,
    finished,
    idealMs,
    lastFinishMs: done.at(-1) ?? Number.NaN,
    medianFinishMs: done[Math.floor(done.length / 2)] ?? Number.NaN,
    seedEgress: (links.sent.get(SEED) ?? 0) / options.imageBytes,
    hosts: ids.map((_, i) => ({
      startMs: worlds[0]!.hosts[i]!.startedAt,
      finishMs: finishes[i],
      connections: topology.connectionCount(i),
      ...sumControl(worlds.map((w) => w.control[i]!)),
      seedBytes: sum(worlds, (w) => w.hosts[i]!.bytes.seed),
      messages: sumRecords(worlds.map((w) => w.control[i]!.messages)),
      peerBytes: sum(worlds, (w) => w.hosts[i]!.bytes.peers),
      pieces: sum(worlds, (w) => w.hosts[i]!.completeCount),
      heard: topology.hears?.[i]!.length,
    })),
    dht: options.mode === 'bounded' ? dhtCost(options.hosts) : undefined,
    counts,
    events: clock.events,
    pieceCount: sum(worlds, (w) => w.pieceCount),
    uplinkUse: use.uplink / Math.max(1, use.samples),
    idleUploaders: use.idle / Math.max(1, use.samples),
    timeline,
  };
}

function sumControl(cs: ReadonlyArray<{ sentFrames: number; sentBytes: number; receivedFrames: number; receivedBytes: number }>) {
  return { sentFrames: sum(cs, (c) => c.sentFrames), sentBytes: sum(cs, (c) => c.sentBytes), receivedFrames: sum(cs, (c) => c.receivedFrames), receivedBytes: sum(cs, (c) => c.receivedBytes) };
}

function sum<T>(items: readonly T[], of: (item: T) => number): number {
  return items.reduce((total, item) => total + of(item), 0);
}

function sumRecords(records: ReadonlyArray<Readonly<Record<string, number>>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v;
  return out;
}
