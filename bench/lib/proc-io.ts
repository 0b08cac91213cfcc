// Bytes a process handed to write-family system calls (sockets included), from /proc/<pid>/io's
// wchar. Linux only; undefined elsewhere. A server that only serves reads counts about what it
// sent: the blob bytes plus response heads.
import { readFileSync } from 'node:fs';

export function bytesWritten(pid: number): number | undefined {
  try {
    const match = /^wchar:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
