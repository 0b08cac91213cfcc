// `shoal gc [--dry-run]`: mark and sweep over the data directory (src/store/gc.ts), with the
// daemon stopped. It opens the directory itself rather than asking the daemon: see collectGarbage
// for why it must not run under a live daemon, and eviction for what runs online instead.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import type { ShoalConfig } from '../config/types.ts';
import { SETTINGS } from '../config/schema.ts';
import { formatBytes } from '../lib/bytes.ts';
import { givenOptions, optionFor } from './options.ts';

export const GC_EXIT_FAILURE = 1;
export const GC_EXIT_USAGE = 2;

export interface GcCommandOptions {
  readonly dryRun?: boolean;
}

interface GcCli {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

type Load = (argvOptions: Record<string, unknown>) => Promise<ShoalConfig>;

export function addGcCommand(program: Command, cli: GcCli, load: Load, setResult: (code: number) => void): void {
  program.command('gc')
    .description('delete the blobs no manifest references (mark and sweep over the data directory); stop the daemon first')
    .addOption(optionFor(SETTINGS.dataDir))
    .addOption(optionFor(SETTINGS.config))
    .addOption(new Option('--dry-run', 'list the blobs that would be deleted, with sizes and the total; delete nothing (safe while the daemon runs)'))
    .addHelpText('after', [
      '',
      'Marks every blob referenced by any manifest revision of any repository (configs, layers, index',
      'children, the manifests themselves) and deletes the rest, with the repositories\' _layers links to',
      'them. Refuses to run while a shoal daemon uses the data directory: a push in progress has blobs that',
      'no manifest references yet. Exit code 0 when done, 1 when refused or failed, 2 for a bad setting.',
    ].join('\n'))
    .action(async (options: GcCommandOptions, command: Command) => {
      const config = await load(givenOptions(command));
      setResult(await gc(options, config.dataDir, cli));
    });
}

export async function gc(options: GcCommandOptions, dataDir: string, cli: GcCli): Promise<number> {
  const dryRun = options.dryRun === true;
  if (!existsSync(join(dataDir, 'docker', 'registry', 'v2'))) {
    cli.stderr(`shoal: ${dataDir} holds no registry data (no docker/registry/v2): check --data-dir\n`);
    return GC_EXIT_USAGE;
  }
  const { Store, collectGarbage, runningDaemonPid, daemonPidPath } = await import('../store/index.ts');
  // No crash recovery here: the temp files of a running daemon are live.
  const { store } = await Store.open(dataDir, { recover: false });
  const pid = await runningDaemonPid(store.layout);
  if (pid !== undefined && !dryRun) {
    cli.stderr(`shoal: a shoal daemon (pid ${pid}) is using ${dataDir}: stop it first, then run shoal gc (if no daemon runs, remove ${daemonPidPath(store.layout)})\n`);
    return GC_EXIT_FAILURE;
  }
  if (pid !== undefined) cli.stdout(`note: a shoal daemon (pid ${pid}) is running here; blobs of pushes in progress would be listed too\n`);
  const result = await collectGarbage(store, { dryRun });
  for (const warning of result.warnings) cli.stderr(`shoal gc: warning: ${warning}\n`);
  const verb = dryRun ? 'would delete' : 'deleted';
  for (const entry of result.swept) cli.stdout(`${verb} ${entry.digest} ${formatBytes(entry.size)}\n`);
  const total = `${result.swept.length} blob${result.swept.length === 1 ? '' : 's'}, ${formatBytes(result.sweptBytes)} (${result.sweptBytes} bytes)`;
  const kept = `${result.kept} blob${result.kept === 1 ? '' : 's'} (${formatBytes(result.keptBytes)}) referenced by ${result.manifests} manifest${result.manifests === 1 ? '' : 's'} in ${result.repositories} repositor${result.repositories === 1 ? 'y' : 'ies'} stay`;
  cli.stdout(dryRun
    ? `dry run: ${total} would be freed; ${kept}\n`
    : `freed ${total}; removed ${result.unlinked} layer link${result.unlinked === 1 ? '' : 's'}; ${kept}\n`);
  return 0;
}
