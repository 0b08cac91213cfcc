// Multi-host tests on one Linux machine: every "host" is a network namespace, and the "LAN" is a
// Linux bridge inside a dedicated switch namespace. Nothing is created in, or routed through, the
// root namespace: each host namespace has exactly one interface besides `lo` (eth0, one end of a
// veth pair whose other end is a port of the bridge), so whatever a host sends can only reach the
// other hosts of the same network — never the machine's real network, not even its loopback.
//
//   switch ns  <prefix>-<pid>-<n>-sw :  br0 (mcast_snooping 0, no STP) + ports p1, p2, ...
//   host ns    <prefix>-<pid>-<n>-<name> :  lo, eth0 = <subnet>.<i>, route 224.0.0.0/4 dev eth0
//
// Requires root and iproute2 (`ip`, `tc`). Rate shaping uses htb on both ends of a host's veth
// (host side = upload, switch side = download); delay needs the kernel's netem qdisc.
// Everything is removed by destroy(), by an exit/signal handler if a test forgets or dies, and —
// for a run that was SIGKILLed — by the next createTestNetwork(), which deletes namespaces with
// the same prefix whose creating pid is gone.
import { readFileSync } from 'node:fs';
import { spawn as spawnChild, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface ShapeOptions {
  /** Limits this host's upload and its download to this many Mbit/s each; 0 or absent: unlimited. */
  readonly rateMbit?: number;
  /** Adds this much one-way delay to every packet the host sends (a round trip to it gains this much); needs netem. */
  readonly delayMs?: number;
}

export interface TestNetworkOptions extends ShapeOptions {
  /** How many hosts (named h1, h2, ...) or their names (letters, digits, `_`; not `sw`). */
  readonly hosts: number | readonly string[];
  /** IPv4 CIDR for the hosts; default $SHOAL_NETNS_SUBNET or 10.213.0.0/24. Must not overlap the root namespace's routes. */
  readonly subnet?: string;
  /** Also add `default dev eth0` in each host (it still only reaches the bridge). Default false: only the subnet and 224.0.0.0/4 are routed. */
  readonly defaultRoute?: boolean;
  /** Name prefix of the namespaces; default `shoalt`. Leftovers with this prefix from dead processes are removed first. */
  readonly prefix?: string;
}

export interface ExecOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  readonly input?: string | Buffer;
  /** Kills the command (SIGKILL) after this long; default 30 s. */
  readonly timeoutMs?: number;
}

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code; null if killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export type HostSpawnOptions = Omit<SpawnOptions, 'env' | 'detached' | 'shell'> & {
  /** Added to (and overriding) process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
};

export interface TestHost {
  readonly name: string;
  /** The host's network namespace (`ip netns exec <namespace> ...`). */
  readonly namespace: string;
  /** Its IPv4 address on the test LAN. */
  readonly address: string;
  /** Its interface inside its namespace (`eth0`). */
  readonly interface: string;
  /** The bridge port (in the switch namespace) its cable plugs into. */
  readonly switchPort: string;
  /** False after setLinkUp(false). */
  readonly linkUp: boolean;
  /** Runs a command inside the host; never rejects on a non-zero exit (look at `code`). */
  exec(cmd: string, args?: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Starts a command inside the host; it is killed (SIGKILL) on destroy() at the latest. */
  spawn(cmd: string, args?: readonly string[], options?: HostSpawnOptions): ChildProcess;
  /** Runs a Node script (.ts or .js) inside the host with this process's Node. */
  spawnNode(scriptPath: string, args?: readonly string[], options?: HostSpawnOptions): ChildProcess;
  /** Replaces the host's shaping (both directions); `{}` removes it. */
  shape(options: ShapeOptions): Promise<void>;
  /** Unplugs (false) or plugs back (true) the host's cable at the switch: its packets are then silently lost, both ways. */
  setLinkUp(up: boolean): Promise<void>;
}

export interface TestNetwork {
  /** `<prefix>-<pid>-<n>`: every namespace of this network starts with it. */
  readonly id: string;
  /** The subnet in CIDR form. */
  readonly subnet: string;
  readonly switchNamespace: string;
  /** The bridge's name inside the switch namespace. */
  readonly bridge: string;
  /** The hosts, in creation order (a live array: addHost appends). */
  readonly hosts: readonly TestHost[];
  host(name: string): TestHost;
  /** Every namespace this network made (switch first). */
  namespaces(): string[];
  /** Adds a host later (e.g. a seed host); it gets the next free address. */
  addHost(name?: string, shaping?: ShapeOptions): Promise<TestHost>;
  /** Kills everything running in the network's namespaces and deletes them; safe to call twice. */
  destroy(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_SUBNET = '10.213.0.0/24';
const DEFAULT_PREFIX = 'shoalt';
const BRIDGE = 'br0';
const HOST_IF = 'eth0';
const HOST_NAME = /^[A-Za-z0-9_]{1,32}$/;
const PREFIX_NAME = /^[A-Za-z][A-Za-z0-9_]{0,15}$/;

// ---------------------------------------------------------------------------------------------
// Requirements

let requirementsChecked = false;

/** Throws an Error naming exactly what is missing: root, iproute2's `ip`/`tc`, or working `ip netns`. */
export function checkNetnsRequirements(): void {
  if (requirementsChecked) return;
  if (process.platform !== 'linux') throw new Error(`network-namespace tests need Linux; this is ${process.platform}`);
  const uid = process.getuid?.();
  if (uid !== 0) {
    throw new Error(`network-namespace tests must run as root (uid 0) to create namespaces, veth pairs and bridges; this process runs as uid ${uid}`);
  }
  for (const tool of ['ip', 'tc']) {
    const probe = spawnSync(tool, ['-V'], { encoding: 'utf8' });
    if (probe.error) {
      const why = (probe.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'is not installed or not on PATH' : `cannot be run (${probe.error.message})`;
      throw new Error(`network-namespace tests need the \`${tool}\` command from iproute2, which ${why} (PATH=${process.env.PATH ?? ''}); install it with: apt-get install iproute2`);
    }
  }
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (list.status !== 0) {
    throw new Error(`\`ip netns\` is unavailable (ip netns list exited ${list.status}): ${(list.stderr || list.stdout).trim()}`);
  }
  requirementsChecked = true;
}

// ---------------------------------------------------------------------------------------------
// Commands

function mergedEnv(env?: Readonly<Record<string, string | undefined>>): NodeJS.ProcessEnv {
  return env ? { ...process.env, ...env } : process.env;
}

function run(cmd: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: mergedEnv(options.env), cwd: options.cwd, timeout: options.timeoutMs ?? 30_000, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ stdout, stderr, code, signal }));
    child.stdin!.on('error', () => {}); // the command may exit without reading its input
    child.stdin!.end(options.input);
  });
}

async function must(cmd: string, args: readonly string[]): Promise<string> {
  const result = await run(cmd, args);
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${result.code ?? result.signal}): ${(result.stderr || result.stdout).trim()}`);
  return result.stdout;
}

const ip = (...args: string[]): Promise<string> => must('ip', args);
const tc = (...args: string[]): Promise<string> => must('tc', args);

function listNamespaces(): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  // Lines are `name` or `name (id: N)`.
  return (out.stdout ?? '').split('\n').map((line) => line.trim().split(' ')[0] ?? '').filter((name) => name !== '');
}

function namespacePids(namespace: string): number[] {
  const out = spawnSync('ip', ['netns', 'pids', namespace], { encoding: 'utf8' });
  return (out.stdout ?? '').split(/\s+/).filter((s) => s !== '').map(Number).filter((pid) => Number.isInteger(pid) && pid > 0 && pid !== process.pid);
}

function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Synchronous: kills everything in the namespace and deletes it (the kernel frees it once those processes are gone). */
function removeNamespaceSync(namespace: string): void {
  killAll(namespacePids(namespace));
  spawnSync('ip', ['netns', 'delete', namespace], { stdio: 'ignore' });
}

async function removeNamespaces(namespaces: readonly string[]): Promise<void> {
  const present = new Set(listNamespaces());
  const mine = namespaces.filter((ns) => present.has(ns));
  for (const ns of mine) killAll(namespacePids(ns));
  // Wait (briefly) for the killed processes to die so the namespaces, and their links, really go.
  const deadline = Date.now() + 3_000;
  while (mine.some((ns) => namespacePids(ns).length > 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const ns of mine) killAll(namespacePids(ns));
  }
  const failures: string[] = [];
  for (const ns of mine) {
    const result = await run('ip', ['netns', 'delete', ns]);
    if (result.code !== 0 && listNamespaces().includes(ns)) failures.push(`${ns}: ${result.stderr.trim()}`);
  }
  if (failures.length > 0) throw new Error(`could not delete network namespaces: ${failures.join('; ')}`);
}

// ---------------------------------------------------------------------------------------------
// Process-wide registry: cleanup on exit and on fatal signals

interface Registered {
  destroyed: boolean;
  readonly children: Set<ChildProcess>;
  namespaces(): string[];
}

const live = new Set<Registered>();
let exitHookInstalled = false;
const CLEANUP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function cleanupAllSync(): void {
  for (const net of live) {
    net.destroyed = true;
    for (const child of net.children) child.kill('SIGKILL');
    for (const ns of net.namespaces()) removeNamespaceSync(ns);
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAllSync();
  uninstallSignalHandlers();
  // Die of the signal as we would have without this handler, unless someone else handles it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHooks(): void {
  if (!exitHookInstalled) {
    process.on('exit', cleanupAllSync);
    exitHookInstalled = true;
  }
  for (const signal of CLEANUP_SIGNALS) if (!process.listeners(signal).includes(onSignal)) process.on(signal, onSignal);
}

function uninstallSignalHandlers(): void {
  for (const signal of CLEANUP_SIGNALS) process.removeListener(signal, onSignal);
}

function unregister(net: Registered): void {
  live.delete(net);
  if (live.size === 0) uninstallSignalHandlers();
}

/** Whether the pid runs (a zombie does not: an orphan's may wait long for pid 1 to reap it). */
function running(pid: number): boolean {
  try {
    return !/^[ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, ''));
  } catch {
    return false;
  }
}

/**
 * Deletes namespaces named `<prefix>-<pid>-...` whose pid is no longer running (or is this very
 * process but not one of its live networks: a crashed run whose pid was reused). Returns their names.
 */
export async function cleanupStaleNetworks(prefix = DEFAULT_PREFIX): Promise<string[]> {
  if (!PREFIX_NAME.test(prefix)) throw new Error(`network prefix must match ${PREFIX_NAME}: ${prefix}`);
  const pattern = new RegExp(`^${prefix}-(\\d+)-\\d+-`);
  const ours = new Set([...live].flatMap((net) => net.namespaces()));
  const stale = listNamespaces().filter((ns) => {
    const match = pattern.exec(ns);
    if (!match || ours.has(ns)) return false;
    const pid = Number(match[1]);
    return pid === process.pid || !running(pid); // a live creator's namespaces are not ours to touch
  });
  await removeNamespaces(stale);
  return stale;
}

// ---------------------------------------------------------------------------------------------
// Addresses

function parseIPv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new Error(`not an IPv4 address: ${text}`);
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

interface Cidr {
  readonly base: number;
  readonly length: number;
}

function parseCidr(text: string): Cidr {
  const [addr, len] = text.split('/');
  const length = Number(len ?? '32');
  if (!Number.isInteger(length) || length < 0 || length > 32) throw new Error(`bad prefix length in ${text}`);
  const size = 2 ** (32 - length);
  return { base: Math.floor(parseIPv4(addr ?? '') / size) * size, length };
}

function overlaps(a: Cidr, b: Cidr): boolean {
  const aEnd = a.base + 2 ** (32 - a.length);
  const bEnd = b.base + 2 ** (32 - b.length);
  return a.base < bEnd && b.base < aEnd;
}

/** The subnet must not collide with anything the root namespace routes or owns (the default route aside). */
function checkSubnetFree(subnet: Cidr, text: string): void {
  const routes = spawnSync('ip', ['-4', '-j', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });
  const addrs = spawnSync('ip', ['-4', '-j', 'addr', 'show'], { encoding: 'utf8' });
  const taken: Array<{ cidr: Cidr; what: string }> = [];
  for (const route of JSON.parse(routes.stdout || '[]') as Array<{ dst?: string; dev?: string; type?: string }>) {
    if (!route.dst || route.dst === 'default' || route.type === 'multicast') continue;
    try {
      const cidr = parseCidr(route.dst);
      if (cidr.base >= parseIPv4('224.0.0.0')) continue; // multicast/broadcast ranges
      taken.push({ cidr, what: `route ${route.type && route.type !== 'unicast' ? `${route.type} ` : ''}${route.dst} dev ${route.dev ?? '?'}` });
    } catch {
      // not an IPv4 prefix
    }
  }
  for (const link of JSON.parse(addrs.stdout || '[]') as Array<{ ifname?: string; addr_info?: Array<{ local?: string; prefixlen?: number }> }>) {
    for (const info of link.addr_info ?? []) {
      if (info.local) taken.push({ cidr: parseCidr(`${info.local}/${info.prefixlen ?? 32}`), what: `address ${info.local}/${info.prefixlen} on ${link.ifname}` });
    }
  }
  const clash = taken.find((t) => overlaps(t.cidr, subnet));
  if (clash) throw new Error(`test subnet ${text} overlaps the root namespace's ${clash.what}; pick a free private range with { subnet } or SHOAL_NETNS_SUBNET`);
}

// ---------------------------------------------------------------------------------------------
// Shaping

let netemSupport: Promise<boolean> | undefined;

/** Whether the kernel has tc's netem qdisc (needed for delayMs). Probed once, on a throwaway veth in `namespace`. */
function netemAvailable(namespace: string): Promise<boolean> {
  if (!netemSupport) {
    const probe = (async () => {
      await ip('-n', namespace, 'link', 'add', 'nprobe0', 'type', 'veth', 'peer', 'name', 'nprobe1');
      try {
        return (await run('tc', ['-n', namespace, 'qdisc', 'add', 'dev', 'nprobe0', 'root', 'netem', 'delay', '1ms'])).code === 0;
      } finally {
        await run('ip', ['-n', namespace, 'link', 'del', 'nprobe0']);
      }
    })();
    netemSupport = probe;
    probe.catch(() => (netemSupport = undefined)); // a probe that failed (rather than said no) runs again next time
  }
  return netemSupport;
}

async function applyShaping(namespace: string, dev: string, rateMbit: number | undefined, delayMs: number | undefined): Promise<void> {
  await run('tc', ['-n', namespace, 'qdisc', 'del', 'dev', dev, 'root']); // absent is fine
  const delay = delayMs && delayMs > 0 ? ['netem', 'delay', `${delayMs}ms`, 'limit', '100000'] : undefined;
  if (rateMbit && rateMbit > 0) {
    const kbit = Math.max(8, Math.round(rateMbit * 1000));
    // Burst of ~5 ms worth (htb sends a GSO super-packet on credit and then waits, so the average
    // holds); quantum set explicitly, or htb warns that the one computed from r2q is too big.
    const burst = Math.max(16_000, Math.round((kbit * 1000) / 8 / 200));
    await tc('-n', namespace, 'qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '1');
    await tc('-n', namespace, 'class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', `${kbit}kbit`, 'ceil', `${kbit}kbit`, 'burst', `${burst}b`, 'cburst', `${burst}b`, 'quantum', '60000');
    if (delay) await tc('-n', namespace, 'qdisc', 'add', 'dev', dev, 'parent', '1:1', 'handle', '10:', ...delay);
  } else if (delay) {
    await tc('-n', namespace, 'qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', ...delay);
  }
}

// ---------------------------------------------------------------------------------------------
// The network

let networkCount = 0;

function validateShaping(options: ShapeOptions): void {
  for (const key of ['rateMbit', 'delayMs'] as const) {
    const value = options[key];
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) throw new Error(`${key} must be a non-negative number, got ${value}`);
  }
}

export async function createTestNetwork(options: TestNetworkOptions): Promise<TestNetwork> {
  checkNetnsRequirements();
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (!PREFIX_NAME.test(prefix)) throw new Error(`network prefix must match ${PREFIX_NAME}: ${prefix}`);
  const names = typeof options.hosts === 'number' ? Array.from({ length: options.hosts }, (_, i) => `h${i + 1}`) : [...options.hosts];
  validateShaping(options);

  const subnetText = options.subnet ?? process.env.SHOAL_NETNS_SUBNET ?? DEFAULT_SUBNET;
  const subnet = parseCidr(subnetText);
  if (subnet.length > 30) throw new Error(`test subnet ${subnetText} is too small`);
  checkSubnetFree(subnet, subnetText);
  const capacity = 2 ** (32 - subnet.length) - 2;

  await cleanupStaleNetworks(prefix);

  const id = `${prefix}-${process.pid}-${networkCount++}`;
  const switchNamespace = `${id}-sw`;
  const children = new Set<ChildProcess>();
  const hosts: TestHost[] = [];
  const created: string[] = []; // namespaces, in creation order
  const registered: Registered = { destroyed: false, children, namespaces: () => [...created] };
  live.add(registered);
  installHooks();

  const track = (child: ChildProcess): ChildProcess => {
    if (registered.destroyed) {
      child.kill('SIGKILL');
      return child;
    }
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };

  const makeHost = async (name: string, shaping: ShapeOptions): Promise<TestHost> => {
    if (registered.destroyed) throw new Error(`test network ${id} is destroyed`);
    if (!HOST_NAME.test(name) || name === 'sw') throw new Error(`host name must match ${HOST_NAME} and not be "sw": ${JSON.stringify(name)}`);
    if (hosts.some((h) => h.name === name)) throw new Error(`duplicate host name ${name}`);
    const index = hosts.length + 1;
    if (index > capacity) throw new Error(`test subnet ${subnetText} has room for ${capacity} hosts`);
    validateShaping(shaping);
    const namespace = `${id}-${name}`;
    const address = formatIPv4(subnet.base + index);
    const switchPort = `p${index}`;

    await ip('netns', 'add', namespace);
    created.push(namespace);
    // The veth pair is born straight into the two namespaces: no link ever exists in the root one.
    await ip('-n', switchNamespace, 'link', 'add', switchPort, 'type', 'veth', 'peer', 'name', HOST_IF, 'netns', namespace);
    await ip('-n', switchNamespace, 'link', 'set', switchPort, 'master', BRIDGE);
    await ip('-n', switchNamespace, 'link', 'set', switchPort, 'up');
    await ip('-n', namespace, 'link', 'set', 'lo', 'up');
    await ip('-n', namespace, 'addr', 'add', `${address}/${subnet.length}`, 'dev', HOST_IF);
    await ip('-n', namespace, 'link', 'set', HOST_IF, 'multicast', 'on', 'up');
    // Without a route for it, a multicast send fails with ENETUNREACH and an IP_ADD_MEMBERSHIP
    // that names no interface with ENODEV: mDNS needs this (or a default route).
    await ip('-n', namespace, 'route', 'add', '224.0.0.0/4', 'dev', HOST_IF);
    if (options.defaultRoute) await ip('-n', namespace, 'route', 'add', 'default', 'dev', HOST_IF);

    let linkUp = true;
    const host: TestHost = {
      name,
      namespace,
      address,
      interface: HOST_IF,
      switchPort,
      get linkUp() {
        return linkUp;
      },
      exec: (cmd, args = [], execOptions = {}) => run('ip', ['netns', 'exec', namespace, cmd, ...args], execOptions),
      spawn: (cmd, args = [], spawnOptions = {}) => {
        if (registered.destroyed) throw new Error(`test network ${id} is destroyed`);
        // `ip netns exec` execs the command, so the child's pid is the command's own.
        return track(spawnChild('ip', ['netns', 'exec', namespace, cmd, ...args], { ...spawnOptions, env: mergedEnv(spawnOptions.env) }));
      },
      spawnNode: (scriptPath, args = [], spawnOptions = {}) => host.spawn(process.execPath, [scriptPath, ...args], spawnOptions),
      shape: async (next) => {
        validateShaping(next);
        if (next.delayMs && next.delayMs > 0 && !(await netemAvailable(switchNamespace))) {
          throw new Error('delayMs needs the kernel\'s netem qdisc (CONFIG_NET_SCH_NETEM, module sch_netem), which this kernel lacks ("tc qdisc ... netem": Specified qdisc kind is unknown); rateMbit alone works with htb');
        }
        await applyShaping(namespace, HOST_IF, next.rateMbit, next.delayMs); // upload (and the delay)
        await applyShaping(switchNamespace, switchPort, next.rateMbit, undefined); // download
      },
      setLinkUp: async (up) => {
        // The cable is pulled at the switch: eth0 loses carrier but keeps its address and routes.
        await ip('-n', switchNamespace, 'link', 'set', switchPort, up ? 'up' : 'down');
        linkUp = up;
      },
    };
    hosts.push(host);
    if (shaping.rateMbit || shaping.delayMs) await host.shape(shaping);
    return host;
  };

  let destroying: Promise<void> | undefined;
  const destroy = (): Promise<void> =>
    (destroying ??= (async () => {
      registered.destroyed = true;
      for (const child of children) child.kill('SIGKILL');
      try {
        await removeNamespaces([...created].reverse());
      } finally {
        unregister(registered);
      }
    })());

  try {
    await ip('netns', 'add', switchNamespace);
    created.push(switchNamespace);
    await ip('-n', switchNamespace, 'link', 'set', 'lo', 'up');
    // No STP and no forward delay: ports forward as soon as they are up. Snooping off: every
    // multicast frame is flooded to every port, whatever IGMP reports were (not) seen.
    await ip('-n', switchNamespace, 'link', 'add', BRIDGE, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0');
    await ip('-n', switchNamespace, 'link', 'set', BRIDGE, 'up');
    for (const name of names) await makeHost(name, options);
  } catch (error) {
    await destroy().catch(() => {});
    throw error;
  }

  return {
    id,
    subnet: `${formatIPv4(subnet.base)}/${subnet.length}`,
    switchNamespace,
    bridge: BRIDGE,
    hosts,
    host: (name) => {
      const found = hosts.find((h) => h.name === name);
      if (!found) throw new Error(`no host ${name} in ${id} (hosts: ${hosts.map((h) => h.name).join(', ')})`);
      return found;
    },
    namespaces: () => [...created],
    addHost: (name, shaping = {}) => makeHost(name ?? `h${hosts.length + 1}`, shaping),
    destroy,
    [Symbol.asyncDispose]: destroy,
  };
}

// ---------------------------------------------------------------------------------------------
// Routing between networks

export interface TestRouter {
  /** The router's namespace (`<first network's id>-rt`). */
  readonly namespace: string;
  /** The router's address on each network, by the network's id: its hosts' gateway to the others. */
  readonly addresses: ReadonlyMap<string, string>;
  /** Deletes the router's namespace; the networks stay, cut apart again. Safe to call twice. */
  destroy(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Joins test networks as an IP router would: one more namespace with a leg on each network's
 * bridge (the last address of each subnet), IPv4 forwarding on and no multicast routing, so
 * unicast crosses while multicast (mDNS) stays inside each network. Every host the networks have
 * now gets a route to the other subnets through it; add hosts before calling this.
 */
export async function connectNetworks(networks: readonly TestNetwork[]): Promise<TestRouter> {
  const first = networks[0];
  if (first === undefined || networks.length < 2) throw new Error('connectNetworks needs two networks or more');
  const namespace = `${first.id}-rt`;
  const cidrs = networks.map((net) => parseCidr(net.subnet));
  cidrs.forEach((a, i) => cidrs.slice(i + 1).forEach((b, j) => {
    if (overlaps(a, b)) throw new Error(`networks ${networks[i]!.subnet} and ${networks[i + 1 + j]!.subnet} overlap: a router cannot join them`);
  }));
  const registered: Registered = { destroyed: false, children: new Set(), namespaces: () => [namespace] };
  live.add(registered);
  installHooks();
  const addresses = new Map<string, string>();
  let destroying: Promise<void> | undefined;
  const destroy = (): Promise<void> =>
    (destroying ??= (async () => {
      registered.destroyed = true;
      try {
        await removeNamespaces([namespace]);
      } finally {
        unregister(registered);
      }
    })());
  try {
    await ip('netns', 'add', namespace);
    await ip('-n', namespace, 'link', 'set', 'lo', 'up');
    for (const [i, net] of networks.entries()) {
      const cidr = cidrs[i]!;
      const address = formatIPv4(cidr.base + 2 ** (32 - cidr.length) - 2);
      const leg = `eth${i}`;
      await ip('-n', net.switchNamespace, 'link', 'add', 'rtr', 'type', 'veth', 'peer', 'name', leg, 'netns', namespace);
      await ip('-n', net.switchNamespace, 'link', 'set', 'rtr', 'master', net.bridge);
      await ip('-n', net.switchNamespace, 'link', 'set', 'rtr', 'up');
      await ip('-n', namespace, 'addr', 'add', `${address}/${cidr.length}`, 'dev', leg);
      await ip('-n', namespace, 'link', 'set', leg, 'up');
      addresses.set(net.id, address);
    }
    const forwarding = await run('ip', ['netns', 'exec', namespace, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    if (forwarding.code !== 0) throw new Error(`could not turn on forwarding in ${namespace}: ${forwarding.stderr.trim()}`);
    for (const net of networks) {
      const gateway = addresses.get(net.id)!;
      for (const other of networks) {
        if (other === net) continue;
        for (const host of net.hosts) await ip('-n', host.namespace, 'route', 'add', other.subnet, 'via', gateway);
      }
    }
  } catch (error) {
    await destroy().catch(() => {});
    throw error;
  }
  return { namespace, addresses, destroy, [Symbol.asyncDispose]: destroy };
}
