// Some of the real part's hosts, in one process (bench/scale/real.ts runs one group in its own
// process, or one per worker process: real-worker.ts). Everything measured per process lives
// here: the announce frames the hosts read, connections opened, the event loop's delay, CPU, the
// seed's bytes and why they were read; the orchestrator adds the groups up.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { rankOwners } from '../../src/distribute/owners.ts';
import { Announcements } from '../../src/swarm/announcements.ts';
import { closestToKey } from '../../src/swarm/committee.ts';
import { encodeFrame, type Message } from '../../src/swarm/protocol.ts';
import type { Swarm } from '../../src/swarm/index.ts';
import type { Digest } from '../../src/oci/index.ts';
import { CountingSeed } from '../../test/helpers/fake-peer.ts';
import { GateDiagnosis, type GateWait } from './gate-diagnosis.ts';
import { startRealHost, type RealHost } from './real-host.ts';
import { SeedReadLog, watchGateWaits, type SeedRead } from './seed-reasons.ts';

export interface GroupInit {
  readonly pieceBytes: number;
  readonly maxConnections: number;
  readonly ownerCommittee: number;
  /** Hosts in the whole run, all on loopback (libp2p's inbound limit per address). */
  readonly hostsOnAddress: number;
  /** Each host's upload-rate, bytes per second (0: none). */
  readonly linkBytesPerSecond?: number;
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
  /** Opened to a peer whose last connection (from this host) closed less than 10 s before: a redial loop. */
  reopened: number;
}

/** What a group measured over one phase (forming, or the pull). */
export interface GroupPhase {
  /** Announce frames and bytes read, summed over the group's hosts; by type too. */
  readonly frames: number;
  readonly bytes: number;
  readonly byType: Record<string, number>;
  readonly churn: Churn;
  readonly cpuS: number;
  readonly eventLoop: EventLoopDelay;
}

export interface GroupPull extends GroupPhase {
  readonly seedBytes: number;
  readonly seedReads: readonly SeedRead[];
  readonly gateWaits: readonly GateWait[];
  readonly leftDuringPull: Record<string, number>;
  /** Seconds from the pull's start to each host's finish. */
  readonly finishS: readonly number[];
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

export class HostGroup {
  readonly #init: GroupInit;
  readonly #seed = new CountingSeed();
  readonly #digest: Digest;
  readonly #size: number;
  readonly hosts: RealHost[] = [];
  #seedReads: SeedReadLog;
  #churn: Churn = { opened: 0, shortLived: 0, reopened: 0 };
  #delay = monitorEventLoopDelay({ resolution: 20 });
  #cpu = process.cpuUsage();
  #ids: readonly string[] = [];
  /** Hosts holding the whole blob since the pull began. */
  #pulled = 0;

  constructor(init: GroupInit, content: Buffer) {
    this.#init = init;
    this.#digest = this.#seed.add(content);
    this.#size = content.length;
    this.#seedReads = new SeedReadLog(this.#digest.value, init.pieceBytes, init.ownerCommittee);
    this.#delay.enable();
  }

  async start(index: number, bootstrap: readonly string[]): Promise<{ peerId: string; address: string }> {
    const name = `h${index}`;
    const { pieceBytes: pieceSize, maxConnections, ownerCommittee, hostsOnAddress, linkBytesPerSecond } = this.#init;
    const host = await startRealHost({ name, seed: this.#seed, pieceSize, bootstrap, maxConnections, ownerCommittee, hostsOnAddress, linkBytesPerSecond, onSeedRead: (range) => this.#seedReads.read(name, range, this.#size) });
    const lastClosed = new Map<string, number>();
    host.swarm.node?.addEventListener('connection:open', ({ detail }) => {
      this.#churn.opened += 1;
      if (Date.now() - (lastClosed.get(detail.remotePeer.toString()) ?? -Infinity) < 10_000) this.#churn.reopened += 1;
    });
    host.swarm.node?.addEventListener('connection:close', ({ detail }) => {
      const closed = detail.timeline.close ?? Date.now();
      lastClosed.set(detail.remotePeer.toString(), closed);
      if (closed - detail.timeline.open < 5_000) this.#churn.shortLived += 1;
    });
    this.hosts.push(host);
    return { peerId: host.swarm.peerId, address: host.swarm.multiaddrs[0]! };
  }

  /** Synced peers and open connections of each host. */
  census(): { synced: number[]; connections: number[]; pulled: number } {
    return { synced: this.hosts.map((h) => h.swarm.peers().filter((p) => p.synced).length), connections: this.hosts.map((h) => h.swarm.connectionCount), pulled: this.#pulled };
  }

  /** Every host of the run started: the true committee is taken among all of them. */
  started(ids: readonly string[]): void {
    this.#ids = ids;
    this.#seedReads.started(this.hosts.map((h) => ({ name: h.name, peerId: h.swarm.peerId, committee: (d) => h.swarm.ownerCommittee(d) })), ids);
  }

  /** What this group measured since the last phase ended; counters start over. */
  endPhase(): GroupPhase {
    const all = this.hosts.map((h) => readsOf(h.swarm));
    const byType: Record<string, number> = {};
    for (const r of all) for (const [k, v] of Object.entries(r.byType)) byType[k] = (byType[k] ?? 0) + v;
    const phase: GroupPhase = {
      frames: all.reduce((s, r) => s + r.frames, 0), bytes: all.reduce((s, r) => s + r.bytes, 0), byType, churn: this.#churn, cpuS: cpuSince(this.#cpu), eventLoop: delays(this.#delay),
    };
    reads.clear();
    this.#churn = { opened: 0, shortLived: 0, reopened: 0 };
    this.#cpu = process.cpuUsage();
    this.#delay.disable();
    this.#delay = monitorEventLoopDelay({ resolution: 20 });
    this.#delay.enable();
    return phase;
  }

  /** Every host of the group pulls the blob; resolves when all hold it. */
  async pull(): Promise<GroupPull> {
    const digest = this.#digest.value;
    const done = new Set<RealHost>();
    const { ownerCommittee } = this.#init;
    const committee = ownerCommittee > 0 && this.#ids.length > ownerCommittee ? closestToKey(digest, this.#ids, ownerCommittee) : this.#ids;
    const diagnosis = new GateDiagnosis({ digest, hosts: this.hosts.map((h) => ({ swarm: h.swarm, get done() { return done.has(h); } })), trueCommittee: committee, owner: (piece) => rankOwners(digest, piece, committee)[0] });
    watchGateWaits((selfId, piece) => diagnosis.record(selfId, piece));
    const leftDuringPull: Record<string, number> = {};
    const off = this.hosts.map((h) => h.swarm.on('peer:left', ({ reason }) => void (leftDuringPull[reason] = (leftDuringPull[reason] ?? 0) + 1)));
    this.endPhase();
    const t = performance.now();
    const finishS = await Promise.all(this.hosts.map((h) => h.pull(this.#digest).then(() => {
      done.add(h);
      this.#pulled += 1;
      return (performance.now() - t) / 1000;
    })));
    const phase = this.endPhase();
    watchGateWaits(undefined);
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const unsubscribe of off) unsubscribe();
    return { ...phase, seedBytes: this.#seed.total(), seedReads: this.#seedReads.reads, gateWaits: diagnosis.waits, leftDuringPull, finishS, rssMiB: process.memoryUsage().rss / 2 ** 20 };
  }

  async close(): Promise<void> {
    this.#delay.disable();
    await Promise.all(this.hosts.map((h) => h.close()));
    reads.clear();
  }
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

function delays(histogram: ReturnType<typeof monitorEventLoopDelay>): EventLoopDelay {
  return { p50: histogram.percentile(50) / 1e6, p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 };
}
