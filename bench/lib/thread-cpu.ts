// CPU time per thread of a process (user + system), from /proc/<pid>/task/*/stat, grouped: the
// main thread (its id is the pid), libuv's thread pool (file writes) and the rest (the hash
// worker and V8's helpers: Node 22 names them all "node"). Tells which thread a pull-through's CPU
// went to, which a sampling profile of JavaScript cannot (it charges the main thread's waits to
// whatever native function ran last). Linux only; undefined elsewhere.
import { readdirSync, readFileSync } from 'node:fs';

export type ThreadCpu = Record<string, number>;

const TICK_MS = 10;

function groupOf(pid: number, tid: number, comm: string): string {
  if (tid === pid) return 'main';
  if (comm.startsWith('libuv-worker')) return 'libuv pool';
  return 'other';
}

/** ms of CPU by thread group; threads that ended between two readings are lost (none do during a pull). */
export function threadCpu(pid: number): ThreadCpu | undefined {
  try {
    const groups: ThreadCpu = {};
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const group = groupOf(pid, Number(task), comm);
      groups[group] = (groups[group] ?? 0) + (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    }
    return groups;
  } catch {
    return undefined;
  }
}

export function threadCpuDelta(before: ThreadCpu | undefined, after: ThreadCpu | undefined): ThreadCpu | undefined {
  if (!before || !after) return undefined;
  return Object.fromEntries(Object.entries(after).map(([group, ms]) => [group, ms - (before[group] ?? 0)]));
}
