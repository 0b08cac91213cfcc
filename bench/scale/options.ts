// The scale bench's flags (util.parseArgs through bench/lib/args.ts).
import { DEFAULT_COMMITTEE_SIZE } from '../../src/swarm/committee.ts';
import { parseFlags } from '../lib/args.ts';
import { SIM_DEFAULTS } from './sim.ts';
import type { Mode } from './topology.ts';

export interface ScaleOptions {
  readonly simHosts: readonly number[];
  readonly modes: readonly Mode[];
  readonly imageMiB: number;
  readonly pieceMiB: number;
  readonly hostMbit: number;
  readonly seedMbit: number;
  readonly jitterMs: number;
  readonly seed: number;
  readonly realHosts: readonly number[];
  readonly realImageMiB: number;
  readonly realMaxConnections: number;
  /** owner-committee of the real hosts (0: no DHT). */
  readonly realCommittee: number;
  /** Worker processes the real hosts are spread over (1: all in the bench's own process). */
  readonly realProcesses: number;
  /** Each real host's upload-rate in Mbit/s (0: none, times are the CPU's). */
  readonly realHostMbit: number;
  /** The real hosts' piece size in MiB (their --piece-size). */
  readonly realPieceMiB: number;
}

export const USAGE = `node bench/scale.bench.ts [--quick] [--sim-hosts 8,32,128,1000] [--modes mesh,capped,bounded]
  [--image-mib 256] [--piece-mib 4] [--host-mbit 1000] [--seed-mbit 1000] [--jitter-ms 0] [--seed 1]
  [--real-hosts 8,32] [--real-image-mib 16] [--real-max-connections 64] [--real-committee 16] [--real-processes 1] [--real-host-mbit 0] [--real-piece-mib 1] [--no-real] [--no-sim]
--quick: simulation up to 128 hosts, real part 8 hosts.
--real-host-mbit: each real host's upload-rate (shoal's own cap on what peers get), so last finish ÷ ideal
  (image ÷ that rate) means something; the seed and downloads are not capped. 0: none (times are this machine's CPU).`;

export function parseScaleOptions(argv: readonly string[]): ScaleOptions {
  const flags = parseFlags(argv, {
    switches: ['quick', 'no-real', 'no-sim', 'help'],
    values: ['sim-hosts', 'modes', 'image-mib', 'piece-mib', 'host-mbit', 'seed-mbit', 'jitter-ms', 'seed', 'real-hosts', 'real-image-mib', 'real-max-connections', 'real-committee', 'real-processes', 'real-host-mbit', 'real-piece-mib'],
  });
  if (flags.has('help')) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = flags.has('quick');
  const num = (name: string, fallback: number): number => {
    const raw = flags.get(name);
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${name}: expected a number, got ${String(raw)}\n${USAGE}`);
    return value;
  };
  const list = (name: string, fallback: readonly number[]): number[] => {
    const raw = flags.get(name);
    if (raw === undefined) return [...fallback];
    const values = String(raw).split(',').filter(Boolean).map(Number);
    if (values.some((v) => !Number.isInteger(v) || v < 2)) throw new Error(`--${name}: expected host counts of 2 or more, such as 8,32\n${USAGE}`);
    return values;
  };
  const modes = String(flags.get('modes') ?? 'mesh,capped,bounded').split(',') as Mode[];
  if (modes.some((m) => !['mesh', 'capped', 'bounded'].includes(m))) throw new Error(`--modes: expected mesh, capped and/or bounded\n${USAGE}`);
  return {
    simHosts: flags.has('no-sim') ? [] : list('sim-hosts', quick ? [8, 32, 128] : [8, 32, 128, 1000]),
    modes,
    imageMiB: num('image-mib', 256),
    pieceMiB: num('piece-mib', SIM_DEFAULTS.pieceBytes / 2 ** 20),
    hostMbit: num('host-mbit', SIM_DEFAULTS.hostMbit),
    seedMbit: num('seed-mbit', SIM_DEFAULTS.seedMbit),
    jitterMs: num('jitter-ms', SIM_DEFAULTS.jitterMs),
    seed: num('seed', SIM_DEFAULTS.seed),
    realHosts: flags.has('no-real') ? [] : list('real-hosts', quick ? [8] : [8, 32]),
    realImageMiB: num('real-image-mib', 16),
    realMaxConnections: num('real-max-connections', 64),
    realCommittee: num('real-committee', DEFAULT_COMMITTEE_SIZE),
    realProcesses: Math.max(1, Math.floor(num('real-processes', 1))),
    realHostMbit: num('real-host-mbit', 0),
    realPieceMiB: num('real-piece-mib', 1),
  };
}
