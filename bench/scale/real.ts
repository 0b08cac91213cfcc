// The real part of the scale bench: N real shoal hosts (real libp2p over TCP on loopback, real
// announce protocol, real piece engine and peer data plane, stores on disk), from the swarm
// forming to every host holding one blob from a counting in-memory seed. The hosts run in this
// process, or spread over `processes` worker processes (real-worker.ts) so that one event loop
// does not starve them all; each worker has its own in-memory copy of the seed, and the seed's
// bytes are added up. Loopback has no link model: times here are this machine's CPU, not a LAN's.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { committeeReserve } from '../../src/swarm/connection-budget.ts';
import { seededRandom } from './clock.ts';
import { summariseWaits } from './gate-diagnosis.ts';
import { HostGroup, type Churn, type EventLoopDelay, type GroupInit, type GroupPhase, type GroupPull } from './host-group.ts';
import { seedReasons, type SeedReasons } from './seed-reasons.ts';

export type { Churn, EventLoopDelay } from './host-group.ts';

export interface RealOptions {
  readonly hosts: number;
  readonly imageBytes: number;
  readonly pieceBytes: number;
  readonly maxConnections: number;
  /** Past this, the run reports what it has instead of waiting for full membership. */
  readonly membershipTimeoutMs: number;
  /** owner-committee of every host; 0 runs no DHT. */
  readonly ownerCommittee: number;
  /** Worker processes the hosts are spread over; 1: all in this process. */
  readonly processes?: number;
  /** Each host's upload-rate, bytes per second (0 or undefined: none; times are the CPU's). */
  readonly linkBytesPerSecond?: number;
}

export interface RealResult {
  readonly hosts: number;
  readonly processes: number;
  /** Each host's upload-rate (bytes/s, 0: none); ideal = image ÷ it. */
  readonly linkBytesPerSecond: number;
  readonly maxConnections: number;
  readonly ownerCommittee: number;
  /** Synced peers every host must have for membership: all others, or half its neighbour limit when that is fewer. */
  readonly membershipPeers: number;
  /** Starting the hosts (one per process at a time: store, peer port, libp2p node each). */
  readonly startMs: number;
  /** From the first host starting until every host had every other (or its cap of) synced peers; undefined: not reached. */
  readonly membershipMs: number | undefined;
  /** Peers that left a host's table during the pull, by reason (a CPU-starved event loop misses heartbeats). */
  readonly leftDuringPull: Readonly<Record<string, number>>;
  readonly syncedPeers: { readonly min: number; readonly max: number };
  readonly connections: { readonly min: number; readonly max: number; readonly mean: number };
  /** Announce-protocol frames and bytes each host read while the swarm formed, and during the pull (mean per host). */
  readonly forming: { readonly frames: number; readonly bytes: number };
  readonly pull: {
    readonly frames: number; readonly bytes: number; readonly byType: Readonly<Record<string, number>>; readonly seedEgress: number; readonly wallS: number; readonly cpuS: number;
    readonly seedReasons: SeedReasons; readonly eventLoop: EventLoopDelay; readonly gateWaits: Record<string, number>;
    /** Seconds from the pull's start to the median and the last host's finish. */
    readonly medianFinishS: number; readonly lastFinishS: number;
  } | undefined;
  /** CPU-seconds of the hosts' processes from the first host starting to membership (or its timeout), and the event loop's delay then (worst process). */
  readonly formingCpuS: number;
  readonly formingEventLoop: EventLoopDelay;
  /** Connections opened (counted at both ends) while forming and during the pull, and of those closed within 5 s of opening (churn). */
  readonly churn: { readonly forming: Churn; readonly pull: Churn };
  readonly loadAverage: number;
  /** Resident memory of the largest hosts' process. */
  readonly rssMiB: number;
}

/** A HostGroup here or in a worker process, called alike. */
interface Group {
  start(index: number, bootstrap: readonly string[]): Promise<{ peerId: string; address: string }>;
  census(): Promise<{ synced: number[]; connections: number[]; pulled: number }>;
  started(ids: readonly string[]): Promise<void>;
  endPhase(): Promise<GroupPhase>;
  pull(): Promise<GroupPull>;
  close(): Promise<void>;
}

function localGroup(init: GroupInit, content: Buffer): Group {
  const group = new HostGroup(init, content);
  return {
    start: (index, bootstrap) => group.start(index, bootstrap),
    census: async () => group.census(),
    started: async (ids) => group.started(ids),
    endPhase: async () => group.endPhase(),
    pull: () => group.pull(),
    close: () => group.close(),
  };
}

async function workerGroup(init: GroupInit, contentPath: string): Promise<Group> {
  const child: ChildProcess = fork(new URL('./real-worker.ts', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let next = 0;
  child.on('message', (message: { id: number; result?: unknown; error?: string }) => {
    const call = calls.get(message.id);
    calls.delete(message.id);
    if (message.error !== undefined) call?.reject(new Error(`worker: ${message.error}`));
    else call?.resolve(message.result);
  });
  child.on('exit', (code) => {
    for (const call of calls.values()) call.reject(new Error(`worker exited (${code})`));
    calls.clear();
  });
  const call = <T>(op: string, ...args: unknown[]): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, op, args });
    });
  await call('init', init, contentPath);
  return {
    start: (index, bootstrap) => call('start', index, bootstrap),
    census: () => call('census'),
    started: (ids) => call('started', ids),
    endPhase: () => call('endPhase'),
    pull: () => call('pull'),
    close: async () => {
      if (child.exitCode === null) await call('close').catch(() => undefined);
    },
  };
}

export async function runReal(options: RealOptions, log: (line: string) => void): Promise<RealResult> {
  const processes = Math.max(1, Math.min(options.processes ?? 1, options.hosts));
  const content = randomBytes(options.imageBytes);
  const init: GroupInit = { pieceBytes: options.pieceBytes, maxConnections: options.maxConnections, ownerCommittee: options.ownerCommittee, hostsOnAddress: options.hosts, linkBytesPerSecond: options.linkBytesPerSecond ?? 0 };
  const dir = await mkdtemp(join(tmpdir(), 'shoal-scale-content-'));
  const groups: Group[] = [];
  const random = seededRandom(options.hosts);
  // A swarm that fits under the cap is a full mesh. Past it a host keeps neighbours up to the cap
  // less the reserve (connection-budget.ts), and hosts that filled up on each other leave few
  // slots for the last ones: half that limit is what "membership" asks of every host then.
  const neighbourLimit = options.maxConnections - committeeReserve(options.maxConnections, options.ownerCommittee);
  const want = options.hosts - 1 < options.maxConnections ? options.hosts - 1 : Math.floor(neighbourLimit / 2);
  try {
    if (processes === 1) groups.push(localGroup(init, content));
    else {
      await writeFile(join(dir, 'blob'), content);
      groups.push(...(await Promise.all(Array.from({ length: processes }, () => workerGroup(init, join(dir, 'blob'))))));
    }
    const started = performance.now();
    const hosts: Array<{ peerId: string; address: string; group: Group }> = [];
    // One host per process at a time; each bootstraps from three earlier ones (one could be full: at its cap; peer exchange does the rest).
    for (let i = 0; i < options.hosts; i += processes) {
      const batch = Array.from({ length: Math.min(processes, options.hosts - i) }, (_, k) => {
        const bootstrap = i === 0 ? [] : [...new Set([0, 1, 2].map(() => hosts[Math.floor(random() * i)]!.address))];
        const group = groups[k]!;
        return group.start(i + k, bootstrap).then((h) => ({ ...h, group }));
      });
      hosts.push(...(await Promise.all(batch)));
      if (Math.floor(hosts.length / 16) > Math.floor((hosts.length - batch.length) / 16) && hosts.length < options.hosts) log(`real: ${hosts.length} hosts started after ${((performance.now() - started) / 1000).toFixed(1)} s (load average ${loadavg()[0]!.toFixed(1)})`);
    }
    const startMs = performance.now() - started;
    const ids = hosts.map((h) => h.peerId);
    await Promise.all(groups.map((g) => g.started(ids)));
    log(`real: ${options.hosts} hosts started in ${(startMs / 1000).toFixed(1)} s over ${processes} process(es); waiting for membership`);
    const census = async () => {
      const parts = await Promise.all(groups.map((g) => g.census()));
      return { synced: parts.flatMap((p) => p.synced), connections: parts.flatMap((p) => p.connections), pulled: sum(parts, (p) => p.pulled) };
    };
    let membershipMs: number | undefined;
    // The timeout runs from the last host's start: starting many hosts one by one takes long on a busy machine.
    const allStarted = performance.now();
    while (performance.now() - allStarted < options.membershipTimeoutMs) {
      if ((await census()).synced.every((n) => n >= want)) {
        membershipMs = performance.now() - started;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // A little longer, so late snapshots are counted with forming rather than with the pull.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const formingPhases = await Promise.all(groups.map((g) => g.endPhase()));
    const { connections } = await census();
    let pull: RealResult['pull'];
    let pullPhases: GroupPull[] = [];
    if (options.imageBytes > 0) {
      // Pulled even without full membership (a cap below N - 1): what a partial view costs is the point then.
      const synced = (await census()).synced;
      const state = membershipMs === undefined ? `no full membership after ${options.membershipTimeoutMs / 1000} s (synced peers ${Math.min(...synced)}-${Math.max(...synced)})` : `membership after ${(membershipMs / 1000).toFixed(1)} s`;
      log(`real: ${state}; every host pulls ${options.imageBytes / 2 ** 20} MiB`);
      const t = performance.now();
      const ticker = setInterval(() => void census().then(({ pulled }) => log(`real: ${pulled} of ${options.hosts} hosts hold the blob after ${((performance.now() - t) / 1000).toFixed(0)} s (load average ${loadavg()[0]!.toFixed(1)})`)), 30_000);
      pullPhases = await Promise.all(groups.map((g) => g.pull())).finally(() => clearInterval(ticker));
      const wallS = (performance.now() - t) / 1000;
      const finish = pullPhases.flatMap((p) => p.finishS).sort((a, b) => a - b);
      pull = {
        ...perHost(pullPhases, options.hosts), seedEgress: sum(pullPhases, (p) => p.seedBytes) / content.length, wallS, cpuS: sum(pullPhases, (p) => p.cpuS),
        seedReasons: seedReasons(pullPhases.flatMap((p) => p.seedReads)), eventLoop: worst(pullPhases), gateWaits: summariseWaits(pullPhases.flatMap((p) => p.gateWaits)),
        medianFinishS: finish[Math.floor(finish.length / 2)]!, lastFinishS: finish.at(-1)!,
      };
    }
    const counts = (await census()).synced;
    const leftDuringPull: Record<string, number> = {};
    for (const p of pullPhases) for (const [reason, n] of Object.entries(p.leftDuringPull)) leftDuringPull[reason] = (leftDuringPull[reason] ?? 0) + n;
    return {
      hosts: options.hosts, processes, linkBytesPerSecond: options.linkBytesPerSecond ?? 0, maxConnections: options.maxConnections, ownerCommittee: options.ownerCommittee, membershipPeers: want, startMs, membershipMs, leftDuringPull,
      syncedPeers: { min: Math.min(...counts), max: Math.max(...counts) },
      connections: { min: Math.min(...connections), max: Math.max(...connections), mean: connections.reduce((a, b) => a + b, 0) / connections.length },
      forming: perHost(formingPhases, options.hosts), formingCpuS: sum(formingPhases, (p) => p.cpuS), formingEventLoop: worst(formingPhases),
      pull, churn: { forming: churnOf(formingPhases), pull: churnOf(pullPhases) },
      loadAverage: loadavg()[0]!, rssMiB: Math.max(0, ...pullPhases.map((p) => p.rssMiB)),
    };
  } finally {
    await Promise.all(groups.map((g) => g.close()));
    await rm(dir, { recursive: true, force: true });
  }
}

function sum<T>(items: readonly T[], pick: (item: T) => number): number {
  return items.reduce((s, item) => s + pick(item), 0);
}

/** Frames and bytes read, mean per host, and by type. */
function perHost(phases: readonly GroupPhase[], hosts: number): { frames: number; bytes: number; byType: Record<string, number> } {
  const byType: Record<string, number> = {};
  for (const p of phases) for (const [k, v] of Object.entries(p.byType)) byType[k] = (byType[k] ?? 0) + v / hosts;
  return { frames: sum(phases, (p) => p.frames) / hosts, bytes: sum(phases, (p) => p.bytes) / hosts, byType };
}

/** The most starved process's event loop. */
function worst(phases: readonly GroupPhase[]): EventLoopDelay {
  return { p50: Math.max(...phases.map((p) => p.eventLoop.p50)), p99: Math.max(...phases.map((p) => p.eventLoop.p99)), max: Math.max(...phases.map((p) => p.eventLoop.max)) };
}

function churnOf(phases: readonly GroupPhase[]): Churn {
  return { opened: sum(phases, (p) => p.churn.opened), shortLived: sum(phases, (p) => p.churn.shortLived), reopened: sum(phases, (p) => p.churn.reopened) };
}
