import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './seed-registry.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const START_TIMEOUT_MS = 15_000;

export interface ShoalProcessOptions {
  readonly dataDir?: string;
  readonly port?: number;
  readonly upstreams?: readonly string[];
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** Run with the swarm on (pass its ports etc. in `args`). */
  readonly swarm?: boolean;
  /** A command that runs node with the rest of its arguments: `['prlimit', '--nofile=1024:1024']`. */
  readonly wrapper?: readonly string[];
}

export interface ShoalProcess {
  readonly url: string;
  /** `127.0.0.1:<port>`, as image names use it */
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** JSON log lines printed so far */
  logs(): Array<Record<string, unknown>>;
  /** SIGKILL: a crash, no draining. */
  crash(): Promise<void>;
  /** SIGTERM and wait for a clean exit; resolves to the exit code. */
  stop(): Promise<number | null>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops it (if running) and removes a temp data directory this helper created. */
  dispose(): Promise<void>;
}

/** Runs `shoal serve` as a real child process, the way an operator does. */
export async function startShoal(options: ShoalProcessOptions = {}): Promise<ShoalProcess> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'shoal-node-')));
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const lines: Array<Record<string, unknown>> = [];
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);

  const start = async (): Promise<void> => {
    const args = [join(ROOT, 'bin', 'shoal.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'debug', '--tag-timeout', '1s', '--upstream-timeout', '5s'];
    // Single-node tests run without the swarm: no p2p ports, and no mDNS from the root namespace
    // (its multicast would leave the machine). Swarm tests run nodes in namespaces (netns.ts).
    if (!options.swarm) args.push('--no-swarm');
    for (const upstream of options.upstreams ?? []) args.push('--upstream', upstream);
    args.push(...(options.args ?? []));
    const [command, ...before] = [...(options.wrapper ?? []), process.execPath];
    const proc = spawn(command!, [...before, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    child = proc;
    const reap = (): void => void proc.kill('SIGKILL');
    process.once('exit', reap);
    exited = new Promise((done) => proc.once('exit', (code) => {
      process.removeListener('exit', reap);
      done(code);
    }));
    let partial = '';
    let stderr = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const complete = partial.split('\n');
      partial = complete.pop()!;
      for (const line of complete) {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          lines.push({ msg: line });
        }
      }
    });
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-10_000);
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`shoal exited with ${proc.exitCode} while starting: ${stderr}`);
      try {
        const response = await fetch(`${url}/v2/`);
        // 401: up, with an htpasswd file (the ping challenges clients without credentials).
        if (response.status === 200 || response.status === 401) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`shoal did not answer on ${url} within ${START_TIMEOUT_MS} ms: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stopWith = async (signal: NodeJS.Signals): Promise<number | null> => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    child.kill(signal);
    return exited;
  };

  await start();
  return {
    url,
    host: `127.0.0.1:${port}`,
    port,
    dataDir,
    logs: () => lines,
    crash: async () => void (await stopWith('SIGKILL')),
    stop: () => stopWith('SIGTERM'),
    start,
    dispose: async () => {
      await stopWith('SIGKILL');
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
