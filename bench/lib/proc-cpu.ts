// CPU time a process has used (user + system), from /proc/<pid>/stat. Linux only; undefined
// elsewhere. Resolution is one clock tick (10 ms at the usual CLK_TCK of 100), so measure
// spans that cost well over that.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export interface CpuTimes {
  readonly userMs: number;
  readonly systemMs: number;
}

export function cpuTimes(pid: number): CpuTimes | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = 1000 / clockTicks();
    return { userMs: Number(fields[11]) * ms, systemMs: Number(fields[12]) * ms };
  } catch {
    return undefined;
  }
}

/** CPU used by `pid` between two readings, or undefined when either is missing. */
export function cpuDelta(before: CpuTimes | undefined, after: CpuTimes | undefined): CpuTimes | undefined {
  if (!before || !after) return undefined;
  return { userMs: after.userMs - before.userMs, systemMs: after.systemMs - before.systemMs };
}
