import { parseArgs } from 'node:util';

/**
 * A benchmark's `--flag value` / `--flag=value` / `--switch` arguments, by util.parseArgs (which
 * refuses unknown options and missing values). `optional` switches may also carry a value
 * (`--cpu-prof` or `--cpu-prof=DIR`): bare, they map to true.
 */
export function parseFlags(argv: readonly string[], spec: { readonly switches: readonly string[]; readonly values: readonly string[]; readonly optional?: readonly string[] }): Map<string, string | true> {
  const optional = new Set(spec.optional ?? []);
  const normalised = argv.map((arg) => (optional.has(arg.replace(/^--/, '')) && !arg.includes('=') ? `${arg}=` : arg));
  const options = Object.fromEntries([
    ...spec.switches.map((name) => [name, { type: 'boolean' as const }]),
    ...[...spec.values, ...optional].map((name) => [name, { type: 'string' as const }]),
  ]);
  const { values } = parseArgs({ args: normalised, options, strict: true, allowPositionals: false });
  const flags = new Map<string, string | true>();
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || value === false) continue;
    flags.set(name, value === true || (optional.has(name) && value === '') ? true : String(value));
  }
  return flags;
}
