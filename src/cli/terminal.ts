// What the client commands write to, and whether it is a terminal (redrawn progress, colour) or a
// pipe or file (plain lines, never a control code).
import { styleText } from 'node:util';

export interface ClientIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** stdout is an interactive terminal that understands \r and ANSI erase-line. */
  readonly isTTY: boolean;
  /** Its width, when a terminal. */
  readonly columns: () => number | undefined;
  /** Colour wanted: a terminal, and NO_COLOR unset. */
  readonly color: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The process's own stdout/stderr; TERM=dumb counts as no terminal. */
export function processIo(env: Readonly<Record<string, string | undefined>> = process.env): ClientIo {
  const isTTY = process.stdout.isTTY === true && env['TERM'] !== 'dumb';
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    isTTY,
    columns: () => (isTTY ? process.stdout.columns : undefined),
    color: isTTY && (env['NO_COLOR'] ?? '') === '',
    env,
  };
}

/** An io for a non-terminal destination (tests, injected CliEnvironment). */
export function plainIo(stdout: (text: string) => void, stderr: (text: string) => void, env: Readonly<Record<string, string | undefined>> = {}): ClientIo {
  return { stdout, stderr, isTTY: false, columns: () => undefined, color: false, env };
}

export const ERASE_LINE = '\x1b[K';

/** Wraps text in an SGR colour when `on`, else returns it unchanged. */
export function paint(on: boolean, color: 'red' | 'green' | 'yellow' | 'dim' | 'bold', text: string): string {
  // `on` already says whether the destination wants colour (ClientIo.color), so styleText must not ask process.stdout again.
  return on ? styleText(color, text, { validateStream: false }) : text;
}

/** Left-aligned columns; the last column is not padded. */
export function table(rows: readonly (readonly string[])[], gap = 2): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - [...cell].length + gap))).join('').trimEnd());
}
