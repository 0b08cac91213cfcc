// The daemon the memory benchmark measures: one shoal as production runs it (the V8 flags and
// malloc setting of npm start, the swarm on but alone: loopback ports, no mDNS), its memory read
// from /proc and from its own /metrics, and its peak-RSS counter reset between scenarios.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../src/daemon/runtime-flags.ts';
import { REPO_ROOT, freePort, nodeBinary, spawnServer, type RunningServer } from './servers.ts';

export interface MemoryDaemon {
  readonly server: RunningServer;
  readonly metricsUrl: string;
}

export interface MemoryDaemonOptions {
  readonly dataDir: string;
  readonly upstream: string;
  /** Script started instead of bin/shoal.js (same arguments), to compare a build or an experiment. */
  readonly entry?: string;
  /** More Node flags, after the production ones. */
  readonly nodeArgs?: readonly string[];
  readonly swarm: boolean;
  /** Settings of DAEMON_ENV left out, to compare with the code before one was added. */
  readonly dropEnv?: readonly string[];
  /** Settings put in the daemon's environment over DAEMON_ENV's, to try one. */
  readonly setEnv?: Readonly<Record<string, string>>;
  /** A command the daemon runs under (a profiler such as heaptrack): its own figures then include the wrapper's. */
  readonly wrap?: readonly string[];
}

export async function startMemoryDaemon(options: MemoryDaemonOptions): Promise<MemoryDaemon> {
  const [port, p2pPort, peerPort, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const swarmArgs = options.swarm ? ['--bind-address', '127.0.0.1', '--p2p-port', String(p2pPort), '--peer-port', String(peerPort), '--no-mdns'] : ['--no-swarm'];
  const args = [
    ...DAEMON_NODE_FLAGS,
    ...(options.nodeArgs ?? []),
    options.entry ?? join(REPO_ROOT, 'bin', 'shoal.js'),
    'serve',
    '--listen', `127.0.0.1:${port}`,
    '--data-dir', options.dataDir,
    '--upstream', options.upstream,
    '--metrics-listen', `127.0.0.1:${metricsPort}`,
    '--log-level', 'warn',
    ...swarmArgs,
  ];
  // Settings from the environment or a config file stay out of the measurement.
  const env: NodeJS.ProcessEnv = { ...DAEMON_ENV };
  for (const key of options.dropEnv ?? []) delete env[key];
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('SHOAL_') && !(key in DAEMON_ENV)) env[key] = value;
  Object.assign(env, options.setEnv);
  const [command, ...wrapArgs] = [...(options.wrap ?? []), nodeBinary()];
  const server = await spawnServer({ label: 'shoal', command: command!, args: [...wrapArgs, ...args], port, env });
  return { server, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
}

/** Resets VmHWM to the current RSS (Linux 4.0+: `5` to clear_refs), so the next peak is one scenario's. */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

export interface HeapFigures {
  readonly heapUsedMiB: number;
  readonly heapTotalMiB: number;
  readonly externalMiB: number;
}

/** The daemon's V8 heap from its /metrics (prom-client's default Node metrics). */
export async function heapOf(daemon: MemoryDaemon): Promise<HeapFigures> {
  const response = await request(daemon.metricsUrl);
  const text = await response.body.text();
  const value = (name: string): number => {
    const m = new RegExp(`^shoal_${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) / (1024 * 1024) : Number.NaN;
  };
  return { heapUsedMiB: value('nodejs_heap_size_used_bytes'), heapTotalMiB: value('nodejs_heap_size_total_bytes'), externalMiB: value('nodejs_external_memory_bytes') };
}
