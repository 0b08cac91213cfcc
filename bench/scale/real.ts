// The real part of the scale bench: N real shoal hosts in this process (real libp2p over TCP on
// loopback, real announce protocol, real piece engine and peer data plane, stores on disk), from
// the swarm forming to every host holding one blob from a counting in-memory seed. Loopback has
// no link model: times here are this machine's CPU, not a LAN's; they are reported as measured.
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Announcements } from '../../src/swarm/announcements.ts';
import { encodeFrame, type Message } from '../../src/swarm/protocol.ts';
import type { Swarm } from '../../src/swarm/index.ts';
import { CountingSeed } from '../../test/helpers/fake-peer.ts';
import { seededRandom } from './clock.ts';
import { startRealHost, type RealHost } from './real-host.ts';
import { committeeReserve } from '../../src/swarm/connection-budget.ts';
import { SeedReadLog, type SeedReasons } from './seed-reasons.ts';

export interface RealOptions {
  readonly hosts: number;
  readonly imageBytes: number;
  readonly pieceBytes: number;
  readonly maxConnections: number;
  /** Past this, the run reports what it has instead of waiting for full membership. */
  readonly membershipTimeoutMs: number;
  /** owner-committee of every host; 0 runs no DHT. */
  readonly ownerCommittee: number;
}

/** The event loop's delay (ms): how starved the hosts sharing it were. */
export interface EventLoopDelay {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface Churn {
  opened: number;
  shortLived: number;
}

export interface RealResult {
  readonly hosts: number;
  readonly maxConnections: number;
  readonly ownerCommittee: number;
  /** Synced peers every host must have for membership: all others, or half its neighbour limit when that is fewer. */
  readonly membershipPeers: number;
  /** Starting the hosts one after another (store, peer port, libp2p node each). */
  readonly startMs: number;
  /** From the first host starting until every host had every other (or its cap of) synced peers; undefined: not reached. */
  readonly membershipMs: number | undefined;
  /** Peers that left a host's table during the pull, by reason (a CPU-starved event loop misses heartbeats). */
  readonly leftDuringPull: Readonly<Record<string, number>>;
  readonly syncedPeers: { readonly min: number; readonly max: number };
  readonly connections: { readonly min: number; readonly max: number; readonly mean: number };
  /** Announce-protocol frames and bytes each host read while the swarm formed, and during the pull (mean per host). */
  readonly forming: { readonly frames: number; readonly bytes: number };
  readonly pull: { readonly frames: number; readonly bytes: number; readonly byType: Readonly<Record<string, number>>; readonly seedEgress: number; readonly wallS: number; readonly cpuS: number; readonly seedReasons: SeedReasons; readonly eventLoop: EventLoopDelay } | undefined;
  /** CPU-seconds of this process from the first host starting to membership (or its timeout), and the event loop's delay then. */
  readonly formingCpuS: number;
  readonly formingEventLoop: EventLoopDelay;
  /** Connections opened (counted at both ends) while forming and during the pull, and of those closed within 5 s of opening (churn). */
  readonly churn: { readonly forming: Churn; readonly pull: Churn };
  readonly loadAverage: number;
  readonly rssMiB: number;
}

/** Frames each Announcements (one per host) read, counted at the protocol boundary with the real encoder's lengths. */
const reads = new Map<object, { frames: number; bytes: number; byType: Record<string, number> }>();
const receive = Announcements.prototype.receive;
Announcements.prototype.receive = function (this: Announcements, peerId: string, message: Message, remote) {
  const count = reads.get(this) ?? { frames: 0, bytes: 0, byType: {} };
  count.frames += 1;
  count.bytes += encodeFrame(message).byteLength;
  count.byType[message.type] = (count.byType[message.type] ?? 0) + 1;
  reads.set(this, count);
  return receive.call(this, peerId, message, remote);
};

function readsOf(swarm: Swarm): { frames: number; bytes: number; byType: Record<string, number> } {
  return reads.get((swarm as unknown as { announcements: object }).announcements) ?? { frames: 0, bytes: 0, byType: {} };
}

export async function runReal(options: RealOptions, log: (line: string) => void): Promise<RealResult> {
  const seed = new CountingSeed();
  const content = randomBytes(options.imageBytes);
  const digest = seed.add(content);
  const random = seededRandom(options.hosts);
  const hosts: RealHost[] = [];
  const seedReads = new SeedReadLog(digest.value, options.pieceBytes, options.ownerCommittee);
  // Under a cap a host keeps neighbours up to the cap less the reserve (connection-budget.ts), and
  // hosts that filled up on each other leave few slots for the last ones: half that limit is
  // what "membership" asks of every host then.
  const neighbourLimit = options.maxConnections - committeeReserve(options.maxConnections, options.ownerCommittee);
  const want = options.hosts - 1 <= neighbourLimit ? options.hosts - 1 : Math.floor(neighbourLimit / 2);
  try {
    const formingCpu = process.cpuUsage();
    let delay = monitorEventLoopDelay({ resolution: 20 });
    delay.enable();
    const started = performance.now();
    const churn = { forming: { opened: 0, shortLived: 0 }, pull: { opened: 0, shortLived: 0 } };
    let phase = churn.forming;
    const watch = (host: RealHost) => {
      host.swarm.node?.addEventListener('connection:open', () => void (phase.opened += 1));
      host.swarm.node?.addEventListener('connection:close', ({ detail }) => {
        if ((detail.timeline.close ?? Date.now()) - detail.timeline.open < 5_000) phase.shortLived += 1;
      });
    };
    for (let i = 0; i < options.hosts; i++) {
      // Three earlier hosts to bootstrap from: one could be full (at its cap); peer exchange does the rest.
      const bootstrap = i === 0 ? [] : [0, 1, 2].map(() => hosts[Math.floor(random() * i)]!.swarm.multiaddrs[0]!);
      hosts.push(await startRealHost({ name: `h${i}`, seed, pieceSize: options.pieceBytes, bootstrap: [...new Set(bootstrap)], maxConnections: options.maxConnections, ownerCommittee: options.ownerCommittee, hostsOnAddress: options.hosts, onSeedRead: (range) => seedReads.read(`h${i}`, range, content.length) }));
      watch(hosts[i]!);
      if ((i + 1) % 16 === 0 && i + 1 < options.hosts) log(`real: ${i + 1} hosts started after ${((performance.now() - started) / 1000).toFixed(1)} s (load average ${loadavg()[0]!.toFixed(1)})`);
    }
    const startMs = performance.now() - started;
    seedReads.started(hosts.map((h) => ({ name: h.name, peerId: h.swarm.peerId, committee: (d) => h.swarm.ownerCommittee(d) })));
    log(`real: ${options.hosts} hosts started in ${(startMs / 1000).toFixed(1)} s; waiting for membership`);
    const synced = () => hosts.map((h) => h.swarm.peers().filter((p) => p.synced).length);
    let membershipMs: number | undefined;
    // The timeout runs from the last host's start: starting many hosts one by one takes long on a busy machine.
    const allStarted = performance.now();
    while (performance.now() - allStarted < options.membershipTimeoutMs) {
      if (synced().every((n) => n >= want)) {
        membershipMs = performance.now() - started;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // A little longer, so late snapshots are counted with forming rather than with the pull.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const forming = meanReads(hosts);
    const formingCpuS = cpuSince(formingCpu);
    const formingEventLoop = delays(delay);
    phase = churn.pull;
    delay.disable();
    delay = monitorEventLoopDelay({ resolution: 20 });
    delay.enable();
    const connections = hosts.map((h) => h.swarm.connectionCount);
    reads.clear();
    let pull: RealResult['pull'];
    const leftDuringPull: Record<string, number> = {};
    if (options.imageBytes > 0) {
      const off = hosts.map((h) => h.swarm.on('peer:left', ({ reason }) => void (leftDuringPull[reason] = (leftDuringPull[reason] ?? 0) + 1)));
      // Pulled even without full membership (a cap below N - 1): what a partial view costs is the point then.
      const state = membershipMs === undefined ? `no full membership after ${options.membershipTimeoutMs / 1000} s (synced peers ${Math.min(...synced())}-${Math.max(...synced())})` : `membership after ${(membershipMs / 1000).toFixed(1)} s`;
      log(`real: ${state}; every host pulls ${options.imageBytes / 2 ** 20} MiB`);
      const cpu = process.cpuUsage();
      const t = performance.now();
      await Promise.all(hosts.map((h) => h.pull(digest)));
      const wallS = (performance.now() - t) / 1000;
      const cpuS = cpuSince(cpu);
      const eventLoop = delays(delay);
      delay.disable();
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const unsubscribe of off) unsubscribe();
      const byType: Record<string, number> = {};
      for (const h of hosts) for (const [k, v] of Object.entries(readsOf(h.swarm).byType)) byType[k] = (byType[k] ?? 0) + v / hosts.length;
      pull = { ...meanReads(hosts), byType, seedEgress: seed.total() / content.length, wallS, cpuS, seedReasons: seedReads.result, eventLoop };
    }
    const counts = synced();
    return {
      hosts: options.hosts, maxConnections: options.maxConnections, ownerCommittee: options.ownerCommittee, membershipPeers: want, startMs, membershipMs, leftDuringPull,
      syncedPeers: { min: Math.min(...counts), max: Math.max(...counts) },
      connections: { min: Math.min(...connections), max: Math.max(...connections), mean: connections.reduce((a, b) => a + b, 0) / connections.length },
      forming, formingCpuS, formingEventLoop, churn, pull, loadAverage: loadavg()[0]!, rssMiB: process.memoryUsage().rss / 2 ** 20,
    };
  } finally {
    await Promise.all(hosts.map((h) => h.close()));
    reads.clear();
  }
}

function meanReads(hosts: readonly RealHost[]): { frames: number; bytes: number } {
  const all = hosts.map((h) => readsOf(h.swarm));
  return { frames: all.reduce((s, r) => s + r.frames, 0) / hosts.length, bytes: all.reduce((s, r) => s + r.bytes, 0) / hosts.length };
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

function delays(histogram: ReturnType<typeof monitorEventLoopDelay>): EventLoopDelay {
  return { p50: histogram.percentile(50) / 1e6, p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 };
}
