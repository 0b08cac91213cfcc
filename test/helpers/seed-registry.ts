// A real registry for tests: Debian's docker-registry (distribution 2.8.2) on a free loopback
// port, with a temp root dir, optional htpasswd or token auth, and its access log parsed so tests
// can count what it served.
//
// distribution 2.8.2 writes the access log (gorilla CombinedLoggingHandler, Apache combined
// format, one line per request, after the response) to STDOUT, whatever log.formatter says;
// log.formatter only shapes the app log on stderr. So requests are counted from stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { Agent, request, type Dispatcher } from 'undici';

export const REGISTRY_BINARY = process.env.SHOAL_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';

export interface HtpasswdAuth {
  readonly htpasswd: { readonly username: string; readonly password: string };
}
export interface TokenAuth {
  /** What the token service gives the registry (see token-service.ts `registryAuth`). */
  readonly token: { readonly realm: string; readonly service: string; readonly issuer: string; readonly rootCertBundle: string };
}

export interface SeedRegistryOptions {
  readonly auth?: HtpasswdAuth | TokenAuth;
  /** Storage root; a temp dir (removed on stop) when absent. A given dir is left in place. */
  readonly dataDir?: string;
  /** Loopback port; a free one when absent. */
  readonly port?: number;
  /** catalog.maxentries: the largest catalog page (and, in 2.8.2, the default page size when below 100). */
  readonly catalogMaxEntries?: number;
  /** Serve HTTPS instead of HTTP; the URL becomes https://. */
  readonly tls?: SeedTls;
}

export interface SeedTls {
  /** PEM files of the server certificate and its key (http.tls.certificate, http.tls.key). */
  readonly certificate: string;
  readonly key: string;
  /** CA files whose client certificates the seed requires (http.tls.clientcas: mutual TLS). */
  readonly clientCas?: readonly string[];
  /** With clientCas: a client certificate the helper itself uses for its readiness and log-marker requests. */
  readonly helperClient?: { readonly cert: string; readonly key: string };
}

export interface LoggedRequest {
  readonly method: string;
  /** Path and query as requested. */
  readonly path: string;
  readonly status: number;
  /** Response body bytes the handler wrote; for HEAD the registry reports the Content-Length, though no body is sent. */
  readonly bytes: number;
}

export interface SeedRegistry {
  readonly url: string;
  /** `127.0.0.1:<port>` */
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** Every request served so far (across restarts), after making sure the log has caught up. */
  requests(): Promise<LoggedRequest[]>;
  /** Successful blob GETs (200/206), optionally for one digest. */
  blobGets(digest?: string): Promise<number>;
  /** Body bytes sent for blob GETs, optionally for one digest. */
  blobBytesServed(digest?: string): Promise<number>;
  /** Forgets the requests logged so far. */
  clearLog(): void;
  /** Freezes the process (SIGSTOP): connections are accepted by the kernel but never answered. */
  pause(): void;
  resume(): void;
  /** Stops and starts it again on the same port with the same data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;
// Apache combined format, as docker-registry 2.8.2 writes its access log to stdout.
const ACCESS_LINE = /^(\S+) \S+ \S+ \[[^\]]*\] "([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-)/;
const BLOB_PATH = /\/blobs\/([a-z0-9]+:[a-f0-9]+)$/;

export interface AccessLogLine {
  /** client address */
  readonly remote: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** response bytes */
  readonly bytes: number;
  /** for blob requests: the digest */
  readonly digest: string | undefined;
}

/** One request from docker-registry's access log (shared by the seed helper, the cluster and the fan-out bench). */
export function parseAccessLine(line: string): AccessLogLine | undefined {
  const m = ACCESS_LINE.exec(line);
  if (!m) return undefined;
  const path = m[3]!;
  return { remote: m[1]!, method: m[2]!, path, status: Number(m[4]), bytes: m[5] === '-' ? 0 : Number(m[5]), digest: BLOB_PATH.exec(path)?.[1] };
}
const MARKER_PATH = '/v2/?shoal-log-marker=';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface RegistryConfigOptions {
  readonly dataDir: string;
  /** host:port to listen on */
  readonly addr: string;
  readonly logLevel?: 'error' | 'warn' | 'info';
  readonly auth?: Record<string, unknown>;
  readonly catalogMaxEntries?: number;
  readonly tls?: Pick<SeedTls, 'certificate' | 'key' | 'clientCas'>;
}

/**
 * A docker-registry config for tests and benchmarks: filesystem storage with deletes, the access
 * log on (Apache combined lines on stdout, which ACCESS_LINE parses), no upload purging.
 * YAML is a superset of JSON: the config is written as JSON.
 */
export function writeRegistryConfig(path: string, options: RegistryConfigOptions): Promise<void> {
  return writeFile(
    path,
    JSON.stringify({
      version: 0.1,
      log: { level: options.logLevel ?? 'info', formatter: 'json', accesslog: { disabled: false } },
      storage: { filesystem: { rootdirectory: options.dataDir }, delete: { enabled: true }, maintenance: { uploadpurging: { enabled: false } } },
      http: {
        addr: options.addr, secret: 'shoal-test-secret', headers: { 'X-Content-Type-Options': ['nosniff'] },
        ...(options.tls ? { tls: { certificate: options.tls.certificate, key: options.tls.key, ...(options.tls.clientCas ? { clientcas: options.tls.clientCas } : {}) } } : {}),
      },
      ...(options.auth ? { auth: options.auth } : {}),
      ...(options.catalogMaxEntries !== undefined ? { catalog: { maxentries: options.catalogMaxEntries } } : {}),
    }),
  );
}

export async function startSeedRegistry(options: SeedRegistryOptions = {}): Promise<SeedRegistry> {
  const workDir = await mkdtemp(join(tmpdir(), 'shoal-seed-'));
  const dataDir = options.dataDir ?? join(workDir, 'data');
  await mkdir(dataDir, { recursive: true });
  const configPath = join(workDir, 'config.yml');
  let auth: Record<string, unknown> | undefined;
  if (options.auth && 'htpasswd' in options.auth) {
    const { username, password } = options.auth.htpasswd;
    const file = join(workDir, 'htpasswd');
    await writeFile(file, `${username}:${bcrypt.hashSync(password, 5)}\n`);
    auth = { htpasswd: { realm: 'shoal-test-registry', path: file } };
  } else if (options.auth && 'token' in options.auth) {
    const t = options.auth.token;
    auth = { token: { realm: t.realm, service: t.service, issuer: t.issuer, rootcertbundle: t.rootCertBundle } };
  }

  const logged: LoggedRequest[] = [];
  let markers = 0;
  let child: ChildProcess | undefined;
  let stderr = '';
  let port = options.port ?? (await freePort());
  const scheme = options.tls ? 'https' : 'http';
  // The helper's own requests trust whatever the seed presents: the tests are about shoal's trust.
  const pingAgent = options.tls
    ? new Agent({ connect: { rejectUnauthorized: false, ...(options.tls.helperClient ? { cert: await readFile(options.tls.helperClient.cert), key: await readFile(options.tls.helperClient.key) } : {}) } })
    : undefined;

  const writeConfig = () =>
    writeRegistryConfig(configPath, {
      dataDir,
      addr: `127.0.0.1:${port}`,
      ...(auth ? { auth } : {}),
      ...(options.catalogMaxEntries !== undefined ? { catalogMaxEntries: options.catalogMaxEntries } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
    });

  const launch = async (): Promise<void> => {
    await writeConfig();
    stderr = '';
    const proc = spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    // A test run that dies must not leave registries behind.
    const reap = () => proc.kill('SIGKILL');
    process.once('exit', reap);
    proc.once('exit', () => process.removeListener('exit', reap));
    let partial = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const request = parseAccessLine(line);
        if (request) logged.push({ method: request.method, path: request.path, status: request.status, bytes: request.bytes });
      }
    });
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-20_000);
    });
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code, signal) => reject(new Error(`docker-registry exited (${code ?? signal}) while starting:\n${stderr}`))),
    );
    exited.catch(() => {});
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const ok = await Promise.race([ping(`${scheme}://127.0.0.1:${port}/v2/`, pingAgent), exited]);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    throw new Error(`docker-registry did not answer on port ${port} within ${START_TIMEOUT_MS} ms:\n${stderr}`);
  };

  const halt = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGCONT');
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };

  // A port picked as free may be taken before the registry binds it: try a few.
  for (let attempt = 0; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      await halt();
      if (options.port !== undefined || attempt >= 2 || !/address already in use/.test(String(error))) {
        await rm(workDir, { recursive: true, force: true });
        await pingAgent?.close();
        throw error;
      }
      port = await freePort();
    }
  }

  /** Sends a marker request and waits until its access-log line shows: every earlier request is logged by then. */
  const flush = async (): Promise<void> => {
    const marker = `${MARKER_PATH}${++markers}`;
    await ping(`${scheme}://127.0.0.1:${port}${marker}`, pingAgent);
    const deadline = Date.now() + 5000;
    while (!logged.some((r) => r.path === marker)) {
      if (Date.now() > deadline) throw new Error('docker-registry access log did not show the marker request');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const requests = async (): Promise<LoggedRequest[]> => {
    await flush();
    return logged.filter((r) => !r.path.startsWith(MARKER_PATH));
  };
  const blobGetsOf = async (digest?: string) =>
    (await requests()).filter((r) => r.method === 'GET' && (r.status === 200 || r.status === 206) && /\/blobs\/[a-z0-9]+:[a-f0-9]+$/.test(r.path) && (!digest || r.path.endsWith(`/blobs/${digest}`)));

  return {
    url: `${scheme}://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    dataDir,
    requests,
    blobGets: async (digest) => (await blobGetsOf(digest)).length,
    blobBytesServed: async (digest) => (await blobGetsOf(digest)).reduce((sum, r) => sum + r.bytes, 0),
    clearLog: () => {
      logged.length = 0;
    },
    pause: () => {
      child?.kill('SIGSTOP');
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
    restart: async () => {
      await halt();
      await launch();
    },
    stop: async () => {
      await halt();
      await rm(workDir, { recursive: true, force: true });
      await pingAgent?.close();
    },
  };
}

/** True when anything answers HTTP at url (401 included: the registry is up, just guarded). */
async function ping(url: string, dispatcher?: Dispatcher): Promise<boolean> {
  try {
    if (dispatcher) {
      const answer = await request(url, { dispatcher, signal: AbortSignal.timeout(2000) });
      await answer.body.dump();
      return true;
    }
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}
