// The clients a test or a benchmark runs inside a host's namespace: curl and skopeo. The root
// namespace cannot reach the LAN, so whatever talks to a daemon or the seed runs in a host.
import type { ChildProcess } from 'node:child_process';
import type { TestHost } from '../netns.ts';

export interface CurlResult {
  readonly status: number;
  readonly body: string;
}

/** `curl` inside `host`: the HTTP status (0 when there was no HTTP answer at all) and the body. */
export async function curlIn(host: TestHost, url: string, options: { headers?: Readonly<Record<string, string>>; timeoutMs?: number } = {}): Promise<CurlResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const marker = '\n__shoal_status__:';
  const args = ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), '-w', `${marker}%{http_code}`];
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const result = await host.exec('curl', args, { timeoutMs: timeoutMs + 2_000 });
  const at = result.stdout.lastIndexOf(marker);
  if (at < 0) return { status: 0, body: result.stderr };
  return { status: Number(result.stdout.slice(at + marker.length)), body: result.stdout.slice(0, at) };
}

export interface TimedRequest {
  readonly status: number;
  /** curl's time_connect, ms */
  readonly connectMs: number;
  /** curl's time_starttransfer (first byte of the response), ms from the start */
  readonly firstByteMs: number;
}

/** One `curl -r <range>` inside `host`, body thrown away; curl's own timings (not process start-up). */
export async function timedRangeGet(host: TestHost, url: string, range: string, timeoutMs = 10_000): Promise<TimedRequest> {
  const result = await host.exec(
    'curl',
    ['-sS', '-o', '/dev/null', '--max-time', String(Math.ceil(timeoutMs / 1000)), '-r', range, '-w', '%{http_code} %{time_connect} %{time_starttransfer}', url],
    { timeoutMs: timeoutMs + 2_000 },
  );
  const [status, connect, first] = result.stdout.trim().split(' ');
  return { status: Number(status ?? 0), connectMs: Number(connect ?? NaN) * 1000, firstByteMs: Number(first ?? NaN) * 1000 };
}

export interface Exited {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Resolves when the child exits, killing it (SIGKILL) after `timeoutMs`. */
export function exitOf(child: ChildProcess, timeoutMs?: number): Promise<Exited> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done({ code: child.exitCode, signal: child.signalCode });
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal });
    });
  });
}

/** SIGTERM, then SIGKILL after 5 s; resolves when the child is gone. */
export async function terminate(child: ChildProcess): Promise<Exited> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  const exited = await exitOf(child);
  clearTimeout(timer);
  return exited;
}

/** `skopeo copy` from a registry into an OCI layout. */
export function pullArgs(source: string, outDir: string, extraArgs: readonly string[] = []): string[] {
  return ['--insecure-policy', 'copy', '--src-tls-verify=false', ...extraArgs, source, `oci:${outDir}:x`];
}

/** `skopeo copy` from an OCI layout into a registry. */
export function pushArgs(layoutDir: string, target: string): string[] {
  return ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${layoutDir}:x`, target];
}

export interface SkopeoRun {
  readonly host: string;
  readonly pid: number;
  /** Epoch ms at spawn and at exit. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly ok: boolean;
  readonly stderr: string;
}

/** Starts `skopeo <args>` in the host; the promise resolves at its exit (never rejects). `onPid` gets its pid at once (for CPU sampling). */
export function spawnSkopeo(host: TestHost, args: readonly string[], timeoutMs: number, onPid?: (pid: number) => void): Promise<SkopeoRun> {
  const startedAt = Date.now();
  const child = host.spawn('skopeo', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-8_000)));
  if (child.pid !== undefined) onPid?.(child.pid);
  return exitOf(child, timeoutMs).then(({ code, signal }) => ({
    host: host.name,
    pid: child.pid ?? 0,
    startedAt,
    endedAt: Date.now(),
    ok: code === 0,
    stderr: code === 0 ? stderr : `${stderr}\n(skopeo exited ${code ?? signal}${signal === 'SIGKILL' ? `; killed after ${timeoutMs} ms` : ''})`,
  }));
}
