// The fan-out's daemons under V8's sampling profiler: `--cpu-prof` makes every daemon write one
// .cpuprofile at exit, and only the samples taken during the shoal fan-out are counted (the bench
// writes that window, on the monotonic clock V8 stamps samples with, next to the profiles).
// Summed over hosts: self time by function, by module, by kind of work, and "shoal frame": the
// innermost frame of shoal's own code on the stack, i.e. which of our functions the time is spent
// under (node internals, libp2p, GC excluded from that last one only when no shoal frame is there).
//
//   node bench/lib/fanout-profile.ts DIR [--top N] [--json OUT]   (re-summarise a run's profiles)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mapBundleFrames } from './bundle-sources.ts';
import type { CallFrame, Profile } from './cpuprofile.ts';

/** The fan-out's span on the monotonic clock (µs), and which host each daemon pid was. */
export interface ProfileWindow {
  readonly startUs: number;
  readonly endUs: number;
  readonly hosts: Readonly<Record<string, string>>;
}

export interface ProfileSummary {
  /** per host: ms of samples in the window (idle excluded) */
  readonly hosts: Record<string, number>;
  readonly totalMs: number;
  readonly byKind: Record<string, number>;
  readonly byModule: Record<string, number>;
  readonly byFunction: Record<string, number>;
  readonly byShoalFrame: Record<string, number>;
}

const WINDOW_FILE = 'window.json';

/** NODE_OPTIONS for the daemons started from now on; returns the undo (the bench's later node children are not profiled). */
export function profileDaemons(dir: string): () => void {
  const before = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = [before, '--cpu-prof', `--cpu-prof-dir=${dir}`].filter(Boolean).join(' ');
  return () => {
    if (before === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = before;
  };
}

/** Writes the window between two epoch-ms instants, for summarise(). */
export function markWindow(dir: string, t0: number, tEnd: number, pids: ReadonlyMap<number, string>): void {
  const monoNowUs = Number(process.hrtime.bigint() / 1000n);
  const toMono = (epochMs: number): number => monoNowUs - (Date.now() - epochMs) * 1000;
  const window: ProfileWindow = { startUs: toMono(t0), endUs: toMono(tEnd), hosts: Object.fromEntries([...pids].map(([pid, host]) => [String(pid), host])) };
  writeFileSync(join(dir, WINDOW_FILE), JSON.stringify(window));
}

const shortUrl = (url: string): string => {
  const path = url.replace(/^file:\/\//, '');
  return path.includes('/node_modules/') ? path.replace(/^.*\/node_modules\//, 'npm:') : path.replace(/^.*\/(src|bench|bin)\//, '$1/');
};

function moduleOf(url: string): string {
  const short = shortUrl(url);
  if (short.startsWith('npm:')) return short.replace(/^(npm:(@[^/]+\/)?[^/]+).*/, '$1');
  if (short.startsWith('node:internal/')) return short.replace(/^(node:internal\/[^/]+).*/, '$1').replace(/\.js$/, '');
  return short.replace(/\.[jt]s$/, '');
}

const KINDS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^npm:@chainsafe\/libp2p-noise|^npm:@noble|^npm:@chainsafe\/as-chacha|^npm:@chainsafe\/as-sha/, 'libp2p noise'],
  [/^npm:@chainsafe\/libp2p-yamux/, 'libp2p yamux'],
  [/^npm:(@libp2p|libp2p|it-|@multiformats|multiformats|uint8array|p-queue|race-signal|main-event|@chainsafe)/, 'libp2p other'],
  [/^npm:(pino|sonic-boom|thread-stream|fast-redact|on-exit-leak-free|quick-format|safe-stable|atomic-sleep)/, 'logging (pino)'],
  [/^npm:(prom-client|tdigest|bintrees)/, 'metrics (prom-client)'],
  [/^npm:(fastify|@fastify|find-my-way|avvio|light-my-request|fast-json-stringify|secure-json-parse|abstract-logging|toad-cache|process-warning|rfdc|ret|safe-regex2|fast-querystring|fast-decode)/, 'fastify'],
  [/^npm:undici/, 'undici'],
  [/^src\/swarm\//, 'shoal swarm'],
  [/^src\/distribute\//, 'shoal distribute'],
  [/^src\/store\//, 'shoal store'],
  [/^src\/http\//, 'shoal http'],
  [/^src\//, 'shoal other'],
  [/^node:internal\/(streams|webstreams)|^node:stream/, 'node streams'],
  [/^node:internal\/fs|^node:fs/, 'node fs'],
  [/^node:internal\/(crypto)|^node:crypto/, 'node crypto'],
  [/^node:internal\/(timers)|^node:timers/, 'node timers'],
  [/^node:(net|http|_http|internal\/(stream_base|http|net|dns|js_stream))/, 'node net/http'],
  [/^node:internal\/(process\/task_queues|async_hooks|process\/promises)|^node:events|^node:internal\/event_target/, 'node events/microtasks'],
  [/^node:/, 'node other'],
  [/^npm:/, 'npm other'],
];

function kindOf(url: string): string {
  const short = shortUrl(url);
  return KINDS.find(([re]) => re.test(short))?.[1] ?? 'other';
}

const label = (f: CallFrame): string => `${f.functionName || '(anonymous)'} ${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '(native)'}`;
const add = (record: Record<string, number>, key: string, ms: number): void => {
  record[key] = (record[key] ?? 0) + ms;
};

/** Sums the profiles in `dir` over the window written by markWindow. */
export function summarise(dir: string): ProfileSummary {
  const window = JSON.parse(readFileSync(join(dir, WINDOW_FILE), 'utf8')) as ProfileWindow;
  const summary: ProfileSummary = { hosts: {}, totalMs: 0, byKind: {}, byModule: {}, byFunction: {}, byShoalFrame: {} };
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const pid = /\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(file)?.[1];
    const host = (pid && window.hosts[pid]) || file;
    const profile = mapBundleFrames(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile);
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
    // Per node: the first frame up the stack with a URL (a native function's caller) and the innermost shoal frame.
    const attribution = new Map<number, { url: string; shoal: string | undefined }>();
    const attribute = (id: number): { url: string; shoal: string | undefined } => {
      let found = attribution.get(id);
      if (found) return found;
      let url = '';
      let shoal: string | undefined;
      for (let cur: number | undefined = id; cur !== undefined && (url === '' || shoal === undefined); cur = parent.get(cur)) {
        const frame = byId.get(cur)!.callFrame;
        if (url === '' && frame.url) url = frame.url;
        if (shoal === undefined && shortUrl(frame.url).startsWith('src/')) shoal = label(frame);
      }
      found = { url, shoal };
      attribution.set(id, found);
      return found;
    };
    let t = profile.startTime;
    let hostMs = 0;
    profile.samples.forEach((id, i) => {
      const delta = profile.timeDeltas[i] ?? 0;
      t += delta;
      if (t < window.startUs || t > window.endUs) return;
      const frame = byId.get(id)!.callFrame;
      if (frame.functionName === '(idle)') return;
      const ms = delta / 1000;
      hostMs += ms;
      const special = frame.url === '' && frame.functionName.startsWith('(');
      const { url, shoal } = attribute(id);
      add(summary.byFunction, label(frame), ms);
      add(summary.byKind, special ? frame.functionName : url ? kindOf(url) : 'other', ms);
      add(summary.byModule, special ? frame.functionName : url ? moduleOf(url) : '(native)', ms);
      add(summary.byShoalFrame, shoal ?? (special ? frame.functionName : `(no shoal frame: ${url ? kindOf(url) : 'native'})`), ms);
    });
    summary.hosts[host] = (summary.hosts[host] ?? 0) + hostMs;
    (summary as { totalMs: number }).totalMs += hostMs;
  }
  return summary;
}

export function renderSummary(s: ProfileSummary, top = 30): string {
  const lines = [`daemon CPU sampled during the fan-out: ${(s.totalMs / 1000).toFixed(2)} s over ${Object.keys(s.hosts).length} hosts (${Object.entries(s.hosts).map(([h, ms]) => `${h} ${(ms / 1000).toFixed(2)}`).join(', ')})`];
  const section = (title: string, record: Record<string, number>, n: number): void => {
    lines.push('', title);
    for (const [key, ms] of Object.entries(record).sort((a, b) => b[1] - a[1]).slice(0, n)) {
      lines.push(`  ${(ms / 1000).toFixed(2).padStart(7)} s ${((100 * ms) / s.totalMs).toFixed(1).padStart(5)}%  ${key}`);
    }
  };
  section('by kind of work (self time; a native function counts as its caller\'s)', s.byKind, 40);
  section('by module', s.byModule, top);
  section('by function (self time)', s.byFunction, top);
  section('under which shoal function (innermost shoal frame on the stack)', s.byShoalFrame, top);
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const dir = argv.find((a) => !a.startsWith('--'));
  if (!dir) throw new Error('usage: fanout-profile.ts DIR [--top N] [--json OUT]');
  const at = (flag: string): string | undefined => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const summary = summarise(dir);
  process.stdout.write(renderSummary(summary, Number(at('--top') ?? 30)));
  const out = at('--json');
  if (out) writeFileSync(out, JSON.stringify(summary, null, 1));
}
