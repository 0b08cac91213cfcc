// skopeo for tests: copy images between an OCI layout, a registry and shoal, TLS checks off
// (everything here is plain http on loopback), no policy.json needed (--insecure-policy).
import { spawn } from 'node:child_process';

export const SKOPEO_BINARY = process.env.SHOAL_TEST_SKOPEO_BIN ?? 'skopeo';
export const DEFAULT_SKOPEO_TIMEOUT_MS = 120_000;

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface SkopeoCopyOptions {
  readonly srcCreds?: Credentials;
  readonly destCreds?: Credentials;
  readonly timeoutMs?: number;
  /** e.g. ['--format', 'oci'], ['--all'], ['--dest-compress=false'] */
  readonly extraArgs?: readonly string[];
}

export interface SkopeoResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs skopeo with the given arguments; throws with its stderr when it fails or runs past the timeout. */
export function skopeo(args: readonly string[], timeoutMs = DEFAULT_SKOPEO_TIMEOUT_MS): Promise<SkopeoResult> {
  const full = ['--insecure-policy', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(SKOPEO_BINARY, full, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${SKOPEO_BINARY}: ${error.message}`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ stdout, stderr });
      const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${code ?? signal}`;
      reject(Object.assign(new Error(`skopeo ${redact(full).join(' ')} ${why}:\n${stderr.trim()}`), { stdout, stderr, code }));
    });
  });
}

/** `skopeo copy src dst`: src/dst are transports such as `oci:/dir:tag` or `docker://127.0.0.1:5000/repo:tag`. */
export function skopeoCopy(src: string, dst: string, options: SkopeoCopyOptions = {}): Promise<SkopeoResult> {
  const args = ['copy', '--src-tls-verify=false', '--dest-tls-verify=false'];
  if (options.srcCreds) args.push('--src-creds', `${options.srcCreds.username}:${options.srcCreds.password}`);
  if (options.destCreds) args.push('--dest-creds', `${options.destCreds.username}:${options.destCreds.password}`);
  args.push(...(options.extraArgs ?? []), src, dst);
  return skopeo(args, options.timeoutMs);
}

/** `skopeo inspect --raw` of an image: its manifest bytes as the registry serves them. */
export async function skopeoInspectRaw(image: string, options: { creds?: Credentials; timeoutMs?: number } = {}): Promise<string> {
  const args = ['inspect', '--raw', '--tls-verify=false'];
  if (options.creds) args.push('--creds', `${options.creds.username}:${options.creds.password}`);
  args.push(image);
  return (await skopeo(args, options.timeoutMs)).stdout;
}

function redact(args: readonly string[]): string[] {
  return args.map((a, i) => (i > 0 && /creds$/.test(args[i - 1]!) ? '<creds>' : a));
}
