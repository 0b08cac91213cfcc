import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** The running benchmark's opening comment, which says what it measures and lists its flags. */
function usage(): string {
  const script = process.argv[1];
  if (script === undefined) return '';
  const header: string[] = [];
  for (const line of readFileSync(script, 'utf8').split('\n')) {
    if (!line.startsWith('//')) break;
    header.push(line.replace(/^\/\/ ?/, ''));
  }
  return header.join('\n');
}

/**
 * A benchmark's `--flag value` / `--flag=value` / `--switch` arguments, by util.parseArgs (which
 * refuses unknown options and missing values: the message and a pointer to --help, exit 2).
 * `--help` prints the benchmark's opening comment. `optional` switches may also carry a value
 * (`--cpu-prof` or `--cpu-prof=DIR`): bare, they map to true.
 */
export function parseFlags(argv: readonly string[], spec: { readonly switches: readonly string[]; readonly values: readonly string[]; readonly optional?: readonly string[] }): Map<string, string | true> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage()}\n`);
    process.exit(0);
  }
  const optional = new Set(spec.optional ?? []);
  const normalised = argv.map((arg) => (optional.has(arg.replace(/^--/, '')) && !arg.includes('=') ? `${arg}=` : arg));
  const options = Object.fromEntries([
    ...spec.switches.map((name) => [name, { type: 'boolean' as const }]),
    ...[...spec.values, ...optional].map((name) => [name, { type: 'string' as const }]),
  ]);
  let values: ReturnType<typeof parseArgs>['values'];
  try {
    ({ values } = parseArgs({ args: normalised, options, strict: true, allowPositionals: false }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nRun with --help for the flags this benchmark takes.\n`);
    process.exit(2);
  }
  const flags = new Map<string, string | true>();
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || value === false) continue;
    flags.set(name, value === true || (optional.has(name) && value === '') ? true : String(value));
  }
  return flags;
}
