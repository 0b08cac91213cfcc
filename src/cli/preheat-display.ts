// What `shoal prefetch --all-nodes` shows while every node pulls: on a terminal one bar per node,
// redrawn in place; in a pipe a plain line per running node every few seconds, and one line when
// a node finishes, fails or is lost. Pure rendering from the daemon's job snapshots.
import type { NodeProgress, PreheatJob } from '../distribute/preheat-cluster.ts';
import { formatBytes } from '../lib/bytes.ts';
import { formatElapsed, fitWidth, renderBar, renderPlainLine, renderProgressLine } from './progress.ts';
import { ERASE_LINE, type ClientIo } from './terminal.ts';

const PLAIN_LINE_MS = 2_000;
/** Node lines at most, so a redraw fits a terminal and a log stays readable; the rest are summed up. */
export const MAX_NODE_LINES = 20;
const NAMED_IN_HEADER = 8;
/** Failed and lost nodes first, then running ones, then those done: what needs eyes stays on screen. */
const ORDER: Readonly<Record<string, number>> = { failed: 0, lost: 0, running: 1, done: 2 };

/** `this node`, the node's address (from its data-plane URL), else its peer id's tail. */
export function nodeLabel(node: NodeProgress): string {
  if (node.self) return 'this node';
  if (node.url !== undefined) {
    try {
      return new URL(node.url).hostname.replace(/^\[|\]$/g, '');
    } catch {
      // fall through to the id
    }
  }
  return `peer …${node.peerId.slice(-8)}`;
}

/** The one-line outcome of a finished node. */
export function outcome(node: NodeProgress, startedAt: number): string {
  const took = formatElapsed((node.finishedAt ?? Date.now()) - startedAt);
  if (node.state === 'done') return `done, ${formatBytes(node.total)} in ${took}`;
  return `${node.state}: ${node.error ?? 'no reason given'}`;
}

export class PreheatDisplay {
  readonly #io: ClientIo;
  readonly #width: number;
  readonly #told = new Set<string>();
  #drawn = 0;
  #lastPlain = 0;

  constructor(io: ClientIo, first: PreheatJob) {
    this.#io = io;
    this.#width = Math.min(40, Math.max(...first.nodes.map((node) => nodeLabel(node).length)));
    const more = first.nodes.length - NAMED_IN_HEADER;
    const names = first.nodes.slice(0, NAMED_IN_HEADER).map(nodeLabel).join(', ') + (more > 0 ? ` and ${more} more` : '');
    io.stdout(`preheating ${first.images.join(', ')} on ${first.nodes.length} ${first.nodes.length === 1 ? 'node' : 'nodes'} (${names})\n`);
  }

  /** Shows the latest snapshot: redraws the bars, or writes what is due in a pipe. */
  show(job: PreheatJob): void {
    if (this.#io.isTTY) this.#redraw(job);
    else this.#plain(job);
  }

  #redraw(job: PreheatJob): void {
    const columns = this.#io.columns();
    let nodes = job.nodes;
    let rest: NodeProgress[] = [];
    if (nodes.length > MAX_NODE_LINES) {
      const sorted = [...nodes].sort((a, b) => (ORDER[a.state] ?? 1) - (ORDER[b.state] ?? 1));
      nodes = sorted.slice(0, MAX_NODE_LINES - 1);
      rest = sorted.slice(MAX_NODE_LINES - 1);
    }
    const lines = nodes.map((node) => {
      const label = nodeLabel(node).padEnd(this.#width);
      if (node.state === 'running' && node.total === 0) return fitWidth(`${label} ${renderBar(0, 10)} resolving the images`, columns);
      if (node.state === 'running') return renderProgressLine({ label, done: node.done, total: node.total, bytesPerSecond: node.bytesPerSecond }, columns);
      const bar = node.state === 'done' ? `${renderBar(1, 10)} ` : '';
      return fitWidth(`${label} ${bar}${outcome(node, job.startedAt)}`, columns);
    });
    if (rest.length > 0) lines.push(fitWidth(`… ${rest.length} more ${rest.length === 1 ? 'node' : 'nodes'}: ${tally(rest)}`, columns));
    const up = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : '';
    this.#io.stdout(`${up}${lines.map((line) => `\r${line}${ERASE_LINE}\n`).join('')}`);
    this.#drawn = lines.length;
  }

  #plain(job: PreheatJob): void {
    const now = Date.now();
    const due = now - this.#lastPlain >= PLAIN_LINE_MS;
    if (due) this.#lastPlain = now;
    // Nothing to show of a node until it has resolved the images (their sizes).
    const sized = job.nodes.filter((node) => node.state === 'running' && node.total > 0);
    const many = sized.length > MAX_NODE_LINES;
    if (due && many) {
      const sum = (key: 'done' | 'total' | 'bytesPerSecond'): number => sized.reduce((total, node) => total + node[key], 0);
      this.#io.stdout(`${renderPlainLine({ label: `${sized.length} nodes running`, done: sum('done'), total: sum('total'), bytesPerSecond: sum('bytesPerSecond') })}\n`);
    }
    for (const node of job.nodes) {
      const label = nodeLabel(node);
      if (node.state === 'running') {
        if (due && !many && node.total > 0) this.#io.stdout(`${renderPlainLine({ label, done: node.done, total: node.total, bytesPerSecond: node.bytesPerSecond })}\n`);
      } else if (!this.#told.has(node.peerId)) {
        this.#told.add(node.peerId);
        this.#io.stdout(`${label}: ${outcome(node, job.startedAt)}\n`);
      }
    }
  }

  /** After the last snapshot: on a terminal, each failure's whole message (a bar line is cut to the width). */
  finish(job: PreheatJob): void {
    if (!this.#io.isTTY) return;
    for (const node of job.nodes) if (node.state !== 'done') this.#io.stdout(`${nodeLabel(node)}: ${outcome(node, job.startedAt)}\n`);
  }
}

/** `12 done, 3 running, 1 lost`. */
function tally(nodes: readonly NodeProgress[]): string {
  const counts = new Map<string, number>();
  for (const node of nodes) counts.set(node.state, (counts.get(node.state) ?? 0) + 1);
  return [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
}
