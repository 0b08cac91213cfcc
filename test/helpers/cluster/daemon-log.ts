// A daemon's JSON log lines (pino on stdout), kept across restarts: tests wait for lines, read a
// run's lines, and put the tail into failure messages.
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

export interface LogLine {
  readonly [key: string]: unknown;
  readonly msg?: string;
  readonly time?: number;
  readonly level?: number;
}

export interface DaemonLog {
  /** Every line since the helper started the daemon (all runs). */
  all(): readonly LogLine[];
  /** Lines of the current (or last) run only. */
  run(): readonly LogLine[];
  /** The last `lines` lines, one per line, for failure messages. */
  tail(lines?: number): string;
  /** Resolves with the first line of this run (or from now on) that matches. */
  waitFor(match: (line: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  /** Peer ids this run has seen join and not leave. */
  livePeers(): Set<string>;
  /** A new run starts: reads its stdout; `stderr` is kept (the last 10 kB) for the tail. */
  follow(stdout: Readable, stderr: Readable): void;
}

function formatLine(line: LogLine): string {
  const { time, level, msg, pid: _pid, hostname: _hostname, name: _name, ...rest } = line as Record<string, unknown>;
  const when = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '?';
  const fields = JSON.stringify(rest);
  return `${when} ${String(level ?? '')} ${String(msg ?? '')} ${fields.length > 600 ? `${fields.slice(0, 600)}…` : fields}`;
}

/** `label` names the daemon in tails and timeouts, e.g. `h1 (10.213.0.2)`. */
export function createDaemonLog(label: string): DaemonLog {
  const lines: LogLine[] = [];
  const listeners = new Set<(line: LogLine) => void>();
  let runStart = 0;
  let stderr = '';

  const tail = (n = 40): string => {
    const text = lines.slice(-n).map(formatLine).join('\n');
    return `--- ${label} shoal log, last ${Math.min(n, lines.length)} lines${stderr ? `; stderr: ${stderr.slice(-2_000)}` : ''} ---\n${text}`;
  };

  return {
    all: () => lines,
    run: () => lines.slice(runStart),
    tail,
    waitFor: (match, timeoutMs = 15_000, what = 'a log line') => {
      const found = lines.slice(runStart).find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const listener = (line: LogLine): void => {
          if (!match(line)) return;
          cleanup();
          resolve(line);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${label}: timed out after ${timeoutMs} ms waiting for ${what}\n${tail()}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(listener);
        };
        listeners.add(listener);
      });
    },
    livePeers: () => {
      const peers = new Set<string>();
      for (const line of lines.slice(runStart)) {
        if (line.msg === 'peer joined') peers.add(String(line.peer));
        else if (line.msg === 'peer left') peers.delete(String(line.peer));
      }
      return peers;
    },
    follow: (out, err) => {
      runStart = lines.length;
      stderr = '';
      createInterface({ input: out }).on('line', (text) => {
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          line = { msg: text };
        }
        lines.push(line);
        for (const listener of [...listeners]) listener(line);
      });
      err.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-10_000)));
    },
  };
}
