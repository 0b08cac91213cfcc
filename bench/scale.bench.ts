// Scale: how shoal's swarm behaves as the cluster grows (issue 11). Two parts, said apart everywhere:
//   1. A discrete-event SIMULATION up to N = 1,000 hosts pulling one image from one seed: virtual
//      clock, MODELLED links and latency, shoal's REAL decision code (source choice, owner ranking,
//      serving caps, message encoding) inside a re-statement of the piece engine's loop. Three
//      configurations: a full mesh, max-peer-connections without owner committees, and shoal's owner
//      committees with per-blob neighbour sets under the cap (the decision code is shoal's; see model.ts).
//   2. REAL hosts in this process or spread over worker processes (N = 8, 32 by default): real libp2p over TCP on loopback, the real
//      announce protocol, piece engine and peer data plane; time to full membership, connections
//      per host, announce frames per host while forming and during one pull.
// Tables on stdout, progress on stderr, JSON in bench/results/scale-<time>.json and scale-latest.json.
//
//   node bench/scale.bench.ts [--quick] [--sim-hosts 8,32,128,1000] [--modes mesh,capped,bounded] ...
// (--help lists every flag.) Report CPU-seconds: this machine is shared, wall times are not the design's.
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../test/helpers/cluster/constants.ts';
import { fmt, progress, table } from './lib/fanout-report.ts';
import { MODELLED, REAL_CODE } from './scale/model.ts';
import { parseScaleOptions, type ScaleOptions } from './scale/options.ts';
import { runReal, type RealResult } from './scale/real.ts';
import { simRow, simStrips, simTable, verdicts, type SimRow } from './scale/report.ts';
import { runScaleSim, SIM_DEFAULTS } from './scale/sim.ts';

function simulate(options: ScaleOptions): SimRow[] {
  const rows: SimRow[] = [];
  for (const mode of options.modes) {
    for (const hosts of options.simHosts) {
      // Under the cap every host connects to every other: the same run as the full mesh.
      if (mode === 'capped' && hosts - 1 <= SIM_DEFAULTS.cap) continue;
      progress(`sim: ${mode}, ${hosts} hosts, ${options.imageMiB} MiB in ${options.pieceMiB} MiB pieces (load average ${loadavg()[0]!.toFixed(1)})`);
      const cpu = process.cpuUsage();
      const result = runScaleSim({
        ...SIM_DEFAULTS, hosts, mode, imageBytes: options.imageMiB * 2 ** 20, pieceBytes: options.pieceMiB * 2 ** 20,
        hostMbit: options.hostMbit, seedMbit: options.seedMbit, jitterMs: options.jitterMs, seed: options.seed,
      });
      const used = process.cpuUsage(cpu);
      rows.push(simRow(result, (used.user + used.system) / 1e6));
    }
  }
  return rows;
}

function realTable(results: readonly RealResult[], options: ScaleOptions): string[][] {
  return [
    ['real libp2p hosts (loopback)', 'N', 'processes', 'start s', 'membership s', 'synced peers min at end', 'conn/host min-max', 'frames/host forming', 'frames/host/blob', 'KiB/host/blob', 'seed ÷ image', 'median / last finish s', 'last ÷ ideal', 'pull wall s', 'pull CPU-s', 'load avg'],
    ...results.map((r) => [
      `cap ${r.maxConnections}, committee ${r.ownerCommittee}, membership ${r.membershipPeers} peers`, String(r.hosts), String(r.processes), fmt(r.startMs / 1000, 1), r.membershipMs === undefined ? 'not reached' : fmt(r.membershipMs / 1000, 1), String(r.syncedPeers.min),
      `${r.connections.min}-${r.connections.max}`, fmt(r.forming.frames, 0), fmt(r.pull?.frames, 0), fmt(r.pull === undefined ? undefined : r.pull.bytes / 1024, 0),
      fmt(r.pull?.seedEgress, 3), r.pull === undefined ? '–' : `${fmt(r.pull.medianFinishS, 1)} / ${fmt(r.pull.lastFinishS, 1)}`, r.pull === undefined || r.linkBytesPerSecond === 0 ? '– (no link model)' : fmt(r.pull.lastFinishS / (options.realImageMiB * 2 ** 20 / r.linkBytesPerSecond), 2), fmt(r.pull?.wallS, 1), fmt(r.pull?.cpuS, 1), fmt(r.loadAverage, 1),
    ]),
  ];
}

async function main(): Promise<void> {
  const options = parseScaleOptions(process.argv.slice(2));
  const sim = simulate(options);
  const real: RealResult[] = [];
  for (const hosts of options.realHosts) {
    progress(`real: ${hosts} hosts, ${options.realImageMiB} MiB, max-peer-connections ${options.realMaxConnections}`);
    real.push(await runReal({ hosts, imageBytes: options.realImageMiB * 2 ** 20, pieceBytes: options.realPieceMiB * 2 ** 20, maxConnections: options.realMaxConnections, ownerCommittee: options.realCommittee, processes: options.realProcesses, linkBytesPerSecond: (options.realHostMbit * 1e6) / 8, membershipTimeoutMs: 120_000 }, progress));
  }
  const lines: string[] = [];
  if (sim.length > 0) {
    lines.push(`SIMULATION (${options.imageMiB} MiB image in ${options.pieceMiB} MiB pieces, every host ${options.hostMbit} Mbit/s up and down, seed ${options.seedMbit} Mbit/s; ideal = image ÷ host link; control = announce frames per host per blob, written+read)`);
    lines.push(table(simTable(sim)), '', ...simStrips(sim), '', ...verdicts(sim), '', 'Real code inside the simulation:', ...REAL_CODE.map((l) => `  - ${l}`), 'Modelled:', ...MODELLED.map((l) => `  - ${l}`), '');
  }
  if (real.length > 0) {
    lines.push(`REAL (libp2p over TCP on loopback; ${options.realImageMiB} MiB blob in ${options.realPieceMiB} MiB pieces from an in-memory counting seed (one copy per process, bytes added up); ${options.realHostMbit > 0 ? `MODELLED links: each host's own upload-rate at ${options.realHostMbit} Mbit/s (shoal's rate cap on what peers get; the seed and downloads uncapped), ideal = blob ÷ that rate; ` : 'no link model: pull times are this machine\'s CPU; '} frames counted where the announce protocol hands them to the swarm; event loop and RSS: the worst process)`);
    lines.push(table(realTable(real, options)));
    for (const r of real) {
      const left = Object.entries(r.leftDuringPull).map(([reason, n]) => `${n} × ${reason}`).join(', ');
      if (left) lines.push(`N=${r.hosts}: peers left a host's table during the pull: ${left}`);
      if (r.pull) lines.push(`N=${r.hosts}: announce frames read per host during the pull, by type: ${Object.entries(r.pull.byType).map(([t, n]) => `${fmt(n, 0)} ${t}`).join(', ')}`);
      if (r.pull) {
        const { pieces, again, readers } = r.pull.seedReasons;
        lines.push(`N=${r.hosts}: seed reads after the committee gate's wait, what the host saw then${r.processes > 1 ? ' (holders: those in its own process only)' : ''}: ${Object.entries(r.pull.gateWaits).map(([k, v]) => `${k} ${fmt(v, 1)}`).join(', ')}`);
        lines.push(`N=${r.hosts}: pieces read from the seed by ${readers} hosts, by reason (of which read again): ${Object.entries(pieces).map(([why, n]) => `${n} ${why} (${again[why] ?? 0})`).join(', ')}`);
      }
      const loop = (d: { p50: number; p99: number; max: number }) => `p50 ${fmt(d.p50, 0)} ms, p99 ${fmt(d.p99, 0)} ms, max ${fmt(d.max, 0)} ms`;
      lines.push(`N=${r.hosts}: connections opened (both ends) while forming ${r.churn.forming.opened} (${r.churn.forming.shortLived} closed within 5 s, ${r.churn.forming.reopened} reopened within 10 s of closing), during the pull ${r.churn.pull.opened} (${r.churn.pull.shortLived}, ${r.churn.pull.reopened})`);
      lines.push(`N=${r.hosts}: CPU-s starting and forming ${fmt(r.formingCpuS, 1)}, event loop delay ${loop(r.formingEventLoop)}${r.pull ? `; pulling ${loop(r.pull.eventLoop)}` : ''}`);
    }
    lines.push('');
  }
  console.log(lines.join('\n'));
  const dir = join(ROOT, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const json = `${JSON.stringify({ kind: 'scale', at: new Date().toISOString(), options, simulation: { realCode: REAL_CODE, modelled: MODELLED, rows: sim, verdicts: verdicts(sim) }, real }, null, 2)}\n`;
  const file = join(dir, `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, json);
  await writeFile(join(dir, 'scale-latest.json'), json);
  progress(`wrote ${file}`);
}

await main();
