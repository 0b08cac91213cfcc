// The multi-host harness itself: namespaces as hosts on a bridged test LAN (test/helpers/netns.ts).
// Needs root and iproute2; without them these tests fail with the reason, they never skip.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { createInterface } from 'node:readline';
import { cleanupStaleNetworks, createTestNetwork, type TestHost, type TestNetwork } from '../helpers/netns.ts';
import { NETNS_PROBE } from '../helpers/netns-probe.ts';
import { eventually } from '../helpers/eventually.ts';

const NETNS_HELPER = new URL('../helpers/netns.ts', import.meta.url).href;
const SINK_PORT = 7000;
const FIVE_MB = 5_000_000;
const MDNS_GROUP = '224.0.0.251';
const MDNS_PORT = '5353';

/** Reads a child's stdout line by line. */
function lineReader(child: ChildProcess): (what: string, timeoutMs?: number) => Promise<string> {
  const queue: string[] = [];
  const waiters: Array<(line: string | null) => void> = [];
  let closed = false;
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4_000)));
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  lines.on('close', () => {
    closed = true;
    for (const waiter of waiters.splice(0)) waiter(null);
  });
  return async (what, timeoutMs = 5_000) => {
    const queued = queue.shift();
    if (queued !== undefined) return queued;
    if (closed) throw new Error(`output ended before ${what}; stderr: ${stderr}`);
    let timer: NodeJS.Timeout | undefined;
    const line = await new Promise<string | null>((resolve, reject) => {
      waiters.push(resolve);
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${stderr}`)), timeoutMs);
    }).finally(() => clearTimeout(timer));
    if (line === null) throw new Error(`output ended before ${what}; stderr: ${stderr}`);
    return line;
  };
}

/** Runs one probe command inside a host and parses its (single) JSON result line. */
async function probe<T>(host: TestHost, ...args: string[]): Promise<T> {
  const result = await host.exec(process.execPath, [NETNS_PROBE, ...args], { timeoutMs: 15_000 });
  assert.equal(result.code, 0, `probe ${args.join(' ')} on ${host.name} failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '') as T;
}

interface ConnectResult {
  readonly target: string;
  readonly ok: boolean;
  readonly code?: string;
  readonly ms: number;
}
const connectFrom = (host: TestHost, timeoutMs: number, ...targets: string[]) => probe<ConnectResult[]>(host, 'connect', String(timeoutMs), ...targets);
const sendFrom = (from: TestHost, to: TestHost) => probe<{ bytes: number; acked: number; ms: number }>(from, 'send', to.address, String(SINK_PORT), String(FIVE_MB));

async function startSink(host: TestHost, port = SINK_PORT): Promise<ChildProcess> {
  const child = host.spawnNode(NETNS_PROBE, ['sink', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(await lineReader(child)(`the sink on ${host.name}`), `READY ${port}`);
  return child;
}

/** Root-namespace links, less the ones Docker makes and drops on its own. */
function rootLinks(): string[] {
  const links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ ifname: string }>;
  return links.map((l) => l.ifname).filter((name) => !/^(veth|br-)/.test(name)).sort();
}

const allNamespaces = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
/** Running, that is: not gone and not a zombie (an orphan's zombie may wait long for pid 1 to reap it). */
const alive = (pid: number): boolean => {
  try {
    return !/^[ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, ''));
  } catch {
    return false;
  }
};
const exited = (child: ChildProcess): Promise<void> => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve())));

describe('a test LAN of three namespaces', () => {
  let net: TestNetwork;
  let a: TestHost;
  let b: TestHost;
  let c: TestHost;
  let linksBefore: string[];
  const sinks: ChildProcess[] = [];

  before(async () => {
    linksBefore = rootLinks();
    net = await createTestNetwork({ hosts: ['a', 'b', 'c'] });
    [a, b, c] = net.hosts as [TestHost, TestHost, TestHost];
    sinks.push(...(await Promise.all(net.hosts.map((h) => startSink(h)))));
  });
  after(async () => {
    await net?.destroy();
  });

  test('each host has its own namespace, address and interface; the root namespace gains no link', async () => {
    assert.deepEqual(net.hosts.map((h) => h.name), ['a', 'b', 'c']);
    assert.equal(new Set(net.hosts.map((h) => h.address)).size, 3);
    const present = allNamespaces();
    for (const ns of net.namespaces()) {
      assert.ok(ns.startsWith(`${net.id}-`), ns);
      assert.ok(present.includes(ns), `${ns} exists`);
    }
    assert.match(net.id, new RegExp(`-${process.pid}-\\d+$`));
    for (const host of net.hosts) {
      const addr = await host.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', host.interface]);
      assert.match(addr.stdout, new RegExp(`inet ${host.address.replaceAll('.', '\\.')}/${net.subnet.split('/')[1]} `));
      const lo = await host.exec('ip', ['-o', 'link', 'show', 'lo']);
      assert.match(lo.stdout, /[<,]UP[,>]/, `lo is up on ${host.name}`);
      assert.ok(host.interface.length <= 15 && host.switchPort.length <= 15);
    }
    const bridge = execFileSync('ip', ['-n', net.switchNamespace, '-d', '-j', 'link', 'show', net.bridge], { encoding: 'utf8' });
    const info = (JSON.parse(bridge) as Array<{ linkinfo: { info_data: { mcast_snooping: number; stp_state: number } } }>)[0]!.linkinfo.info_data;
    assert.equal(info.mcast_snooping, 0);
    assert.equal(info.stp_state, 0);
    assert.deepEqual(rootLinks(), linksBefore);
  });

  test('a host routes only its subnet and multicast, both onto the bridge: no way out', async () => {
    for (const host of net.hosts) {
      const routes = (await host.exec('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout.trim().split('\n').map((r) => r.trim());
      assert.ok(!routes.some((r) => r.startsWith('default')), `no default route on ${host.name}: ${routes.join(' | ')}`);
      for (const route of routes) assert.match(route, /\bdev (eth0|lo)\b/, `every route goes to the bridge or loopback: ${route}`);
      assert.ok(routes.includes('224.0.0.0/4 dev eth0 scope link'), `multicast route on ${host.name}`);
      assert.ok(routes.some((r) => r.startsWith(`${net.subnet} dev eth0`)));
      const links = (await host.exec('ip', ['-o', 'link', 'show'])).stdout.trim().split('\n');
      assert.deepEqual(links.map((l) => l.split(':')[1]?.trim().split('@')[0]), ['lo', 'eth0']);
    }
  });

  test('every host reaches every other over TCP', async () => {
    const results = await Promise.all(net.hosts.map((from) => connectFrom(from, 2_000, ...net.hosts.filter((to) => to !== from).map((to) => `${to.address}:${SINK_PORT}`))));
    for (const result of results.flat()) assert.ok(result.ok, `${result.target}: ${result.code}`);
  });

  test('nothing outside the test LAN is reachable: not the machine\'s addresses, not its loopback', async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const rootLoopback = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const outside = Object.values(networkInterfaces()).flat().filter((i) => i && !i.internal && i.family === 'IPv4').map((i) => `${i!.address}:${SINK_PORT}`);
      const results = await connectFrom(a, 1_500, rootLoopback, ...outside);
      const [loop, ...rest] = results;
      assert.equal(loop?.ok, false, 'the root namespace\'s loopback is not the host\'s');
      assert.equal(loop?.code, 'ECONNREFUSED');
      for (const result of rest) {
        assert.equal(result.ok, false, `${result.target} must be unreachable`);
        assert.equal(result.code, 'ENETUNREACH', `${result.target}: no route, refused at once (got ${result.code} after ${result.ms} ms)`);
        assert.ok(result.ms < 500, `${result.target} failed fast (${result.ms} ms)`);
      }
    } finally {
      server.close();
    }
  });

  test('mDNS-group multicast sent by one host arrives at the others', async () => {
    const receivers = [b, c].map((host) => {
      const child = host.spawnNode(NETNS_PROBE, ['mcast-recv', MDNS_GROUP, MDNS_PORT, '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      return { host, child, next: lineReader(child) };
    });
    for (const r of receivers) assert.equal(await r.next(`READY from the receiver on ${r.host.name}`), 'READY');
    const sent = await probe<{ sent: number }>(a, 'mcast-send', MDNS_GROUP, MDNS_PORT, 'hello-from-a', '5', '50');
    assert.equal(sent.sent, 5);
    for (const r of receivers) {
      const got = JSON.parse(await r.next(`a datagram on ${r.host.name}`, 3_000)) as { from: string; message: string };
      assert.deepEqual(got, { from: a.address, message: 'hello-from-a' });
      await exited(r.child);
    }
  });

  test('shape({ rateMbit: 50 }) limits upload and download of that host only; shape({}) lifts it', async () => {
    const fast = await sendFrom(b, c);
    assert.equal(fast.acked, FIVE_MB);
    assert.ok(fast.ms < 350, `unshaped 5 MB b→c took ${fast.ms} ms`);

    await a.shape({ rateMbit: 50 });
    assert.match((await a.exec('tc', ['qdisc', 'show', 'dev', a.interface])).stdout, /qdisc htb 1: root/);
    assert.match(execFileSync('tc', ['-n', net.switchNamespace, 'qdisc', 'show', 'dev', a.switchPort], { encoding: 'utf8' }), /qdisc htb 1: root/);
    const [upload, download] = [await sendFrom(a, b), await sendFrom(b, a)];
    for (const [what, result] of [['upload a→b', upload], ['download b→a', download]] as const) {
      assert.equal(result.acked, FIVE_MB);
      // 5 MB at 50 Mbit/s is 0.8 s.
      assert.ok(result.ms >= 700, `${what} at 50 Mbit/s took only ${result.ms} ms`);
      assert.ok(result.ms < 4_000, `${what} at 50 Mbit/s took ${result.ms} ms`);
    }
    const bystander = await sendFrom(c, b);
    assert.ok(bystander.ms < 350, `c→b is not shaped (${bystander.ms} ms)`);

    await a.shape({});
    const lifted = await sendFrom(a, b);
    assert.ok(lifted.ms < 350, `after shape({}) a→b took ${lifted.ms} ms`);
  });

  test('setLinkUp(false) drops a host off the LAN both ways; setLinkUp(true) brings it back', async () => {
    await c.setLinkUp(false);
    assert.equal(c.linkUp, false);
    const [toC, fromC, aToB] = await Promise.all([connectFrom(a, 400, `${c.address}:${SINK_PORT}`), connectFrom(c, 400, `${a.address}:${SINK_PORT}`), connectFrom(a, 1_000, `${b.address}:${SINK_PORT}`)]);
    assert.equal(toC[0]?.ok, false, 'a cannot reach c');
    assert.equal(fromC[0]?.ok, false, 'c cannot reach a');
    assert.equal(aToB[0]?.ok, true, 'a still reaches b');

    await c.setLinkUp(true);
    assert.equal(c.linkUp, true);
    const [back, backFrom] = await Promise.all([connectFrom(a, 2_000, `${c.address}:${SINK_PORT}`), connectFrom(c, 2_000, `${a.address}:${SINK_PORT}`)]);
    assert.ok(back[0]?.ok && backFrom[0]?.ok, `c is back: ${JSON.stringify([back, backFrom])}`);
  });

  test('addHost joins a host later with the next address', async () => {
    const seed = await net.addHost('seed');
    const lastOctet = (address: string) => Number(address.split('.').at(-1));
    assert.equal(lastOctet(seed.address), lastOctet(c.address) + 1);
    assert.equal(net.host('seed'), seed);
    assert.ok(net.namespaces().includes(seed.namespace));
    sinks.push(await startSink(seed));
    const [out, into] = await Promise.all([connectFrom(seed, 2_000, `${a.address}:${SINK_PORT}`), connectFrom(a, 2_000, `${seed.address}:${SINK_PORT}`)]);
    assert.ok(out[0]?.ok && into[0]?.ok);
    await assert.rejects(net.addHost('seed'), /duplicate host name/);
  });

  test('destroy() kills what ran in the hosts and removes every namespace and link it made', async () => {
    const namespaces = net.namespaces();
    assert.equal(namespaces.length, 5); // switch + a, b, c, seed
    await net.destroy();
    await Promise.all(sinks.map(exited));
    for (const sink of sinks) assert.equal(sink.signalCode, 'SIGKILL');
    const left = allNamespaces().filter((ns) => ns.startsWith(`${net.id}-`));
    assert.deepEqual(left, []);
    assert.deepEqual(rootLinks(), linksBefore);
    assert.equal((await a.exec('true')).code !== 0, true, 'its namespace is gone');
    await net.destroy(); // twice is fine
  });
});

describe('cleanup when the test process dies', () => {
  const subnet = process.env.SHOAL_NETNS_SUBNET ?? '10.213.0.0/24';

  /** A child process (root namespace) that builds a 2-host network with a `sleep` inside, then waits. */
  async function holder(prefix: string): Promise<{ child: ChildProcess; namespaces: string[]; sleeper: number }> {
    const child = spawn(process.execPath, [NETNS_PROBE, 'hold', prefix, subnet], { stdio: ['ignore', 'pipe', 'pipe'] });
    process.once('exit', () => child.kill('SIGKILL'));
    const { namespaces } = JSON.parse(await lineReader(child)('the holder\'s namespaces', 10_000)) as { namespaces: string[] };
    let pids: number[] = [];
    await eventually(() => {
      pids = execFileSync('ip', ['netns', 'pids', namespaces[1]!], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
      return pids.length > 0;
    }, 5_000, 'the sleeper to enter the first host');
    assert.equal(pids.length, 1, 'one process runs in the first host');
    return { child, namespaces, sleeper: pids[0]! };
  }

  test('SIGTERM: the signal handler removes the namespaces, and the process still dies of SIGTERM', async () => {
    const { child, namespaces, sleeper } = await holder('shoaltt');
    child.kill('SIGTERM');
    await exited(child);
    assert.equal(child.signalCode, 'SIGTERM');
    const present = allNamespaces();
    assert.deepEqual(namespaces.filter((ns) => present.includes(ns)), []);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(alive(sleeper), false, 'what ran in a host was killed');
  });

  test('SIGKILL leaves namespaces behind; the next createTestNetwork with that prefix removes them', async (t) => {
    const { child, namespaces, sleeper } = await holder('shoaltk');
    child.kill('SIGKILL');
    await exited(child);
    // Should this test fail before the cleanup under test ran, still leave nothing behind.
    t.after(async () => void (await cleanupStaleNetworks('shoaltk')));
    assert.deepEqual(namespaces.filter((ns) => allNamespaces().includes(ns)), namespaces, 'a SIGKILLed run leaves its namespaces');
    assert.ok(alive(sleeper));

    const next = await createTestNetwork({ hosts: 1, prefix: 'shoaltk', subnet });
    try {
      const present = allNamespaces();
      assert.deepEqual(namespaces.filter((ns) => present.includes(ns)), [], 'stale namespaces removed');
      assert.equal(alive(sleeper), false, 'and what ran in them');
      assert.ok(present.includes(next.hosts[0]!.namespace));
    } finally {
      await next.destroy();
    }
  });
});

describe('requirements', () => {
  const attempt = `import { createTestNetwork } from ${JSON.stringify(NETNS_HELPER)};
    try { const n = await createTestNetwork({ hosts: 1 }); await n.destroy(); console.log('CREATED'); }
    catch (error) { console.log(error.message); }`;
  const run = (command: string, args: string[], env: NodeJS.ProcessEnv = process.env) => execFileSync(command, args, { encoding: 'utf8', env, timeout: 10_000 }).trim();

  test('not root: createTestNetwork throws and says root is needed', () => {
    const message = run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', attempt]);
    assert.match(message, /must run as root \(uid 0\).*uid 65534/);
  });

  test('no iproute2 on PATH: createTestNetwork throws and names the missing `ip` command', () => {
    const message = run(process.execPath, ['--input-type=module', '-e', attempt], { ...process.env, PATH: '/nonexistent-shoal-path' });
    assert.match(message, /need the `ip` command from iproute2, which is not installed or not on PATH/);
  });

  test('a subnet that collides with the machine\'s own networks is refused', async () => {
    await assert.rejects(createTestNetwork({ hosts: 1, subnet: '127.1.2.0/24' }), /overlaps the root namespace's route local 127\.0\.0\.0\/8 dev lo/);
    const own = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4');
    if (own) await assert.rejects(createTestNetwork({ hosts: 1, subnet: `${own.address}/28` }), /overlaps the root namespace's/);
  });
});
