// How many file descriptors this process may hold, for caps that must leave room for the rest
// of the process. Node raises its soft limit to the hard one at start, so the soft limit read
// here is what the process really has.
import { readFileSync } from 'node:fs';

/** The soft RLIMIT_NOFILE, from /proc/self/limits; undefined where that cannot be read (not Linux) or it is unlimited. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.slice('Max open files'.length).trim().split(/\s+/)[0]);
    return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}
