// `shoal serve`, `shoal config`, `shoal keygen`, `shoal --version`; `prefetch`, `status`, `doctor` and
// `setup` are in client-commands.ts. Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration
// mistake (the operator must change a flag, variable or file).
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../config/load.ts';
import { formatHostPort } from '../config/parse.ts';
import { renderConfigYaml } from '../config/render.ts';
import { keygen, type KeygenOptions } from './keygen.ts';
import { addGcCommand } from './gc.ts';
import { addClientCommands } from './client-commands.ts';
import { addSettingOptions, givenOptions, settingsSummary } from './options.ts';
import { exitOnShutdownSignals } from './shutdown.ts';
import { processIo, type ClientIo } from './terminal.ts';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface CliEnvironment {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly homedir: string;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Terminal facts for the client commands (progress redraw, colour); absent: plain output. */
  readonly io?: ClientIo;
}

const processEnvironment = (): CliEnvironment => ({
  env: process.env,
  cwd: process.cwd(),
  homedir: homedir(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  io: processIo(),
});

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return manifest.version ?? 'unknown';
}

/**
 * Runs the CLI. Resolves to an exit code, or to undefined when `serve` started the daemon: the
 * process then lives until a signal (see shutdown.ts) ends it.
 */
export async function main(argv: readonly string[], cli: CliEnvironment = processEnvironment()): Promise<number | undefined> {
  let result: number | undefined = 0;
  const load = (argvOptions: Record<string, unknown>) =>
    loadConfig({ argvOptions, env: cli.env, cwd: cli.cwd, homedir: cli.homedir });

  const program = new Command('shoal')
    .description('Peer-to-peer LAN registry mirror: a Docker Registry v2 endpoint filled from peers first, the seed registry last')
    .version(packageVersion())
    .addHelpText('after', settingsSummary())
    .exitOverride()
    .configureOutput({
      writeOut: cli.stdout,
      writeErr: cli.stderr,
      outputError: (text, write) => write(`shoal: ${text.replace(/^error: /, '')}`),
    });

  addSettingOptions(program.command('serve').description('run the registry daemon'))
    .action(async (_options: unknown, command: Command) => {
      result = await serve(await load(givenOptions(command)));
    });

  addSettingOptions(program.command('config').description('print the effective configuration as YAML, secrets redacted'))
    .action(async (_options: unknown, command: Command) => {
      cli.stdout(renderConfigYaml(await load(givenOptions(command))));
    });

  program.command('keygen')
    .description('write a new cluster key: only hosts started with the same --cluster-key can connect to each other')
    .addOption(new Option('-o, --output <file>', 'file to create with mode 0600 (default: print the key to stdout)'))
    .addOption(new Option('--force', 'replace the file if it exists (hosts still holding the old key can no longer join)'))
    .action(async (options: KeygenOptions) => {
      await keygen(options, cli);
    });

  addGcCommand(program, cli, load, (code) => {
    result = code;
  });

  addClientCommands(program, cli, load, (code) => {
    result = code;
  });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return result;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE; // commander already said why
    if (error instanceof ConfigError) {
      cli.stderr(`shoal: ${error.message}\n`);
      return EXIT_USAGE;
    }
    cli.stderr(`shoal: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILURE;
  }
}

async function serve(config: Awaited<ReturnType<typeof loadConfig>>): Promise<undefined> {
  const logger = pino({ name: 'shoal', level: config.logLevel });
  // Imported only here so that `--help`, `config` and configuration errors need none of the
  // daemon's dependencies (fastify, libp2p) loaded.
  const { startDaemon } = await import('../daemon/daemon.ts');
  logger.info({
    listen: formatHostPort(config.listen),
    dataDir: config.dataDir,
    upstreams: config.upstreams.map((upstream) => upstream.url),
  }, 'starting');
  // startDaemon logs the address it serves on and its own stop.
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon(config, logger);
  } catch (error) {
    const explained = startFailure(error);
    logger.fatal({ reason: explained.message }, 'could not start');
    throw explained;
  }
  exitOnShutdownSignals({ close: () => daemon.close(), logger, exit: (code) => process.exit(code), signals: process });
  return undefined;
}

/**
 * What a failed start tells the operator: the cause and what to do, in one line (the log line
 * carries no stack: it is an operator's error, not shoal's). libp2p reports a p2p port in use as
 * its own multi-line advice about a setting shoal does not expose.
 */
function startFailure(error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const p2pInUse = /failed to be listened on[\s\S]*EADDRINUSE[^\n]*?(\d+)\s*$/m.exec(message);
  if (p2pInUse) return new Error(`the p2p port ${p2pInUse[1]} is in use: another program (another shoal daemon?) listens there; stop it, or choose another --p2p-port`);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new Error(`${message}: another program (another shoal daemon, registry:2?) listens there; stop it, or choose another port (--listen, --peer-port, --p2p-port, --metrics-listen)`);
  if (code === 'EADDRNOTAVAIL') return new Error(`${message}: no interface of this host has that address; check --listen, --bind-address and --metrics-listen`);
  if ((code === 'EACCES' || code === 'EPERM') && (error as { syscall?: string }).syscall === 'listen') return new Error(`${message}: ports below 1024 need root (or CAP_NET_BIND_SERVICE); choose a port above 1023`);
  if (code === 'EACCES' || code === 'EPERM') return new Error(`${message}: the user shoal runs as may not do this; give it the data directory (chown -R <user> <data-dir>)`);
  return error instanceof Error ? error : new Error(message);
}
