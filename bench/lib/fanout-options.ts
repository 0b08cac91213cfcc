// The fan-out benchmark's command line, and the sizes and places it derives from it.
import { statfsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT } from '../../test/helpers/cluster/constants.ts';
import { parseFlags } from './args.ts';
import { MiB } from './fanout-report.ts';

export interface Options {
  readonly quick: boolean;
  readonly hosts: number;
  readonly rateMbit: number;
  readonly imageMib: number;
  readonly pushes: number;
  readonly pollMs: number;
  readonly ttfbRounds: number;
  readonly baseline: boolean;
  readonly workDir: string | undefined;
  readonly label: string | undefined;
  /** Before each measured phase, wait up to this long for other users' CPU to drop below QUIET_CORES. */
  readonly waitQuietS: number;
  /** Daemons run under `--cpu-prof` writing here (one .cpuprofile per host); summarised over the fan-out. */
  readonly cpuProfDir: string | undefined;
  /** Daemons log at debug and every piece transfer of the fan-out is printed (bench/lib/fanout-transfers.ts). */
  readonly transfers: boolean;
  /** Only the shoal fan-out is measured (no time to first byte, no propagation, no JSON): for A/B series. */
  readonly fanoutOnly: boolean;
}

export function parseOptions(argv: readonly string[]): Options {
  const flags = parseFlags(argv, { switches: ['quick', 'no-baseline', 'transfers', 'fanout-only'], values: ['hosts', 'rate-mbit', 'image-mib', 'pushes', 'poll-ms', 'ttfb-rounds', 'work-dir', 'label', 'wait-quiet'], optional: ['cpu-prof'] });
  const quick = flags.get('quick') === true;
  const num = (flag: string, fallback: number, integer = false): number => {
    const raw = flags.get(flag);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (raw === true || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${flag} must be a positive ${integer ? 'integer' : 'number'}, not ${String(raw)}`);
    return n;
  };
  const hosts = num('hosts', quick ? 3 : 8, true);
  if (hosts < 2) throw new Error('--hosts must be at least 2');
  const str = (flag: string): string | undefined => {
    const v = flags.get(flag);
    return typeof v === 'string' ? v : undefined;
  };
  return {
    quick,
    hosts,
    rateMbit: num('rate-mbit', quick ? 100 : 200),
    imageMib: num('image-mib', quick ? 32 : 256),
    pushes: num('pushes', quick ? 3 : 6, true),
    pollMs: num('poll-ms', 50),
    ttfbRounds: num('ttfb-rounds', 3, true),
    baseline: flags.get('no-baseline') !== true,
    workDir: str('work-dir'),
    label: str('label'),
    waitQuietS: flags.has('wait-quiet') ? Number(flags.get('wait-quiet')) || 0 : 60,
    cpuProfDir: cpuProfDir(flags.get('cpu-prof')),
    transfers: flags.get('transfers') === true,
    fanoutOnly: flags.get('fanout-only') === true,
  };
}

/** `--cpu-prof` alone: bench/results/fanout-profiles-<time>; `--cpu-prof=DIR`: DIR. */
function cpuProfDir(flag: string | true | undefined): string | undefined {
  if (flag === undefined) return undefined;
  return resolve(flag === true ? join(ROOT, 'bench', 'results', `fanout-profiles-${new Date().toISOString().replace(/[:.]/g, '-')}`) : flag);
}

/** Layers 5/8 + 2/8 + 1/8 of the image (160 + 64 + 32 MiB for 256 MiB). */
export function layerSizes(imageMib: number): number[] {
  const total = Math.round(imageMib * MiB);
  const a = Math.round((total * 5) / 8);
  const b = Math.round((total * 2) / 8);
  return [a, b, total - a - b];
}

/** /dev/shm when it holds the run (one shared disk would otherwise be a bottleneck no real LAN has). */
export function workBase(explicit: string | undefined, neededBytes: number): string {
  if (explicit) return explicit;
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.bavail * fs.bsize > neededBytes * 1.5 && totalmem() > neededBytes * 3) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return process.env.TMPDIR ?? '/tmp';
}
