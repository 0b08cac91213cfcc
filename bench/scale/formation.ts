// How a swarm past its connection cap forms: N real libp2p swarms on loopback in this process,
// started one after another as test/integration/swarm-committee.test.ts starts them (bootstrap from
// the first host and the previous one), timed until every host has `--need` synced peers. A run
// slower than `--slow` ms prints the timeline of the hosts that formed last: every half second
// their synced peers and connections, and the swarm's debug lines (dials, backoffs, connections
// let go) naming peers by host and showing how many neighbours each named peer had then.
//   node bench/scale/formation.ts --runs 5 [--hosts 16 --cap 10 --committee 3 --need 3 --slow 15000 --gap 380]
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createSwarm, type Swarm, type SwarmLogger } from '../../src/swarm/index.ts';
import { writeBenchResult } from '../lib/results.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    hosts: { type: 'string', default: '16' },
    cap: { type: 'string', default: '10' },
    committee: { type: 'string', default: '3' },
    need: { type: 'string', default: '3' },
    slow: { type: 'string', default: '15000' },
    timeout: { type: 'string', default: '120000' },
    // swarm-committee's real hosts (store, data plane, fetcher) took 6 s to start 16: about this apart.
    gap: { type: 'string', default: '380' },
  },
});
const RUNS = Number(values.runs);
const HOSTS = Number(values.hosts);
const CAP = Number(values.cap);
const COMMITTEE = Number(values.committee);
const NEED = Number(values.need);
const SLOW_MS = Number(values.slow);
const TIMEOUT_MS = Number(values.timeout);
const GAP_MS = Number(values.gap);

interface Line {
  readonly at: number;
  readonly text: string;
}

interface Host {
  readonly name: string;
  readonly swarm: Swarm;
  readonly lines: Line[];
}

const synced = (h: Host) => h.swarm.peers().filter((p) => p.synced).length;

function recorder(lines: Line[], t0: number): SwarmLogger {
  const record = (fields: object, message: string) => lines.push({ at: Date.now() - t0, text: `${message} ${JSON.stringify(fields)}` });
  return { debug: record, info() {}, warn: record };
}

async function run(index: number): Promise<{ startMs: number; formedMs: number | undefined }> {
  const t0 = Date.now();
  const hosts: Host[] = [];
  const names = new Map<string, string>();
  try {
    for (let i = 0; i < HOSTS; i++) {
      const bootstrap = i === 0 ? [] : [...new Set([hosts[0]!, hosts[i - 1]!].map((h) => h.swarm.multiaddrs[0]!))];
      const lines: Line[] = [];
      const swarm = await createSwarm(
        { listenAddresses: ['127.0.0.1'], advertiseAddress: '127.0.0.1', mdns: false, bootstrap, maxConnections: CAP, ownerCommittee: COMMITTEE, inboundPerAddressPerSecond: 5 * HOSTS, logger: recorder(lines, t0) },
        { inventory: async function* () {} },
      );
      await new Promise((resolve) => setTimeout(resolve, i === 0 ? 0 : GAP_MS));
      await swarm.start({ port: 1 });
      swarm.node?.addEventListener('peer:discovery', ({ detail }) => lines.push({ at: Date.now() - t0, text: `discovered ${JSON.stringify({ peerId: detail.id.toString() })}` }));
      const host = { name: `c${i}`, swarm, lines };
      names.set(swarm.peerId, host.name);
      hosts.push(host);
    }
    const startMs = Date.now() - t0;
    // Every half second: each host's synced peers, connections (in/out) and whom it is connected to.
    const states: Array<{ at: number; state: Map<string, string>; counts: Map<string, number> }> = [];
    let formedMs: number | undefined;
    while (Date.now() - t0 - startMs < TIMEOUT_MS) {
      const state = new Map<string, string>();
      const counts = new Map<string, number>();
      for (const h of hosts) {
        const connections = h.swarm.node?.getConnections() ?? [];
        const inbound = connections.filter((c) => c.direction === 'inbound').length;
        const peers = h.swarm.peers().map((p) => `${names.get(p.peerId) ?? '?'}${p.synced ? '' : '~'}`);
        counts.set(h.name, synced(h));
        state.set(h.name, `${synced(h)} synced, conns ${inbound}in/${connections.length - inbound}out [${peers.join(',')}]`);
      }
      states.push({ at: Date.now() - t0, state, counts });
      if (hosts.every((h) => synced(h) >= NEED)) {
        formedMs = Date.now() - t0 - startMs;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    console.log(`run ${index}: ${HOSTS} hosts started in ${startMs} ms, every host at ${NEED} synced peers ${formedMs === undefined ? 'NEVER' : `${formedMs} ms`} after (load ${loadavg()[0]!.toFixed(2)})`);
    if (formedMs === undefined || formedMs > SLOW_MS) printTimeline(hosts, names, states, startMs);
    return { startMs, formedMs };
  } finally {
    await Promise.all(hosts.map((h) => h.swarm.stop().catch(() => undefined)));
  }
}

/** The hosts last to reach NEED synced peers: their states and debug lines, peers named by host with their synced count then. */
function printTimeline(hosts: Host[], names: Map<string, string>, states: Array<{ at: number; state: Map<string, string>; counts: Map<string, number> }>, startMs: number): void {
  const lastFormed = (h: Host) => states.findIndex((s) => (s.counts.get(h.name) ?? 0) >= NEED && states.slice(states.indexOf(s)).every((t) => (t.counts.get(h.name) ?? 0) >= NEED));
  const order = hosts.map((h) => ({ h, at: lastFormed(h) === -1 ? Infinity : lastFormed(h) })).sort((a, b) => b.at - a.at);
  const countsAt = (at: number) => [...states].reverse().find((s) => s.at <= at)?.counts;
  for (const { h } of order.slice(0, 3)) {
    console.log(`--- ${h.name} (all started at ${startMs} ms)`);
    const events = [
      ...states.filter((s, i) => i === 0 || states[i - 1]!.state.get(h.name) !== s.state.get(h.name)).map((s) => ({ at: s.at, text: `state ${s.state.get(h.name)}` })),
      ...h.lines.map((l) => {
        const counts = countsAt(l.at);
        const text = l.text.replace(/"peerId":"(\w+)"/, (_m, id: string) => `"peer":"${names.get(id) ?? id.slice(-6)}(${counts?.get(names.get(id) ?? '') ?? '?'} synced)"`);
        return { at: l.at, text };
      }),
    ].sort((a, b) => a.at - b.at);
    for (const e of events) if (e.at >= startMs - 5_000 || !e.text.startsWith('state')) console.log(`${String(e.at).padStart(7)} ${e.text}`);
  }
  const final = states.at(-1);
  if (final) console.log(`--- every host at the end: ${[...final.state].map(([n, s]) => `${n}: ${s}`).join('\n  ')}`);
}

const results: Array<{ startMs: number; formedMs: number | undefined; load: number }> = [];
for (let i = 1; i <= RUNS; i++) results.push({ ...(await run(i)), load: loadavg()[0]! });
const formed = results.map((r) => r.formedMs ?? Infinity).sort((a, b) => a - b);
console.log(`formation (ms after the last host started), ${RUNS} runs: ${formed.join(' ')}`);
const file = await writeBenchResult('formation', { hosts: HOSTS, cap: CAP, committee: COMMITTEE, need: NEED, gapMs: GAP_MS, timeoutMs: TIMEOUT_MS, runs: results.map((r) => ({ ...r, formedMs: r.formedMs ?? null })) });
console.log(`wrote ${file}`);
