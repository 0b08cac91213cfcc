// The commands that talk to a running daemon (`prefetch`, `status`, `doctor`) or configure its
// clients (`setup`). They find the daemon as `serve` would listen: --listen, SHOAL_LISTEN, the
// config file's http.addr, else 127.0.0.1:5000. Their modules are imported only when run.
import { Argument, Option, type Command } from 'commander';
import { useDaemonCredentials } from './daemon-auth.ts';
import type { ShoalConfig } from '../config/types.ts';
import { SETTINGS } from '../config/schema.ts';
import { givenOptions, optionFor } from './options.ts';
import { plainIo, type ClientIo } from './terminal.ts';

interface ClientCli {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly io?: ClientIo;
}

type Load = (argvOptions: Record<string, unknown>) => Promise<ShoalConfig>;

const EXIT_USAGE = 2;

/** The settings a client command accepts on its command line; the rest come from the environment and file. */
function withDaemonOptions(command: Command, extra: readonly ('upstream' | 'allowedRegistries')[] = []): Command {
  command.addOption(optionFor(SETTINGS.listen)).addOption(optionFor(SETTINGS.config));
  for (const id of extra) command.addOption(optionFor(SETTINGS[id]));
  return command;
}

/** Only the shared settings, never a command's own options (setup's --docker-config is daemon.json, not the setting). */
function settingOptions(command: Command): Record<string, unknown> {
  const given = givenOptions(command);
  return Object.fromEntries(Object.entries(given).filter(([key]) => key === 'listen' || key === 'config' || key === 'upstream' || key === 'allowedRegistries'));
}

export function addClientCommands(program: Command, cli: ClientCli, load: Load, setResult: (code: number) => void): void {
  const io = (): ClientIo => cli.io ?? plainIo(cli.stdout, cli.stderr, cli.env);
  const prefetchAction = async (images: string[], options: { platform?: string; jobs?: string; allNodes?: boolean }, command: Command): Promise<void> => {
    const config = await loadWithDaemonLogin(load, command);
    const { prefetch, PrefetchUsageError } = await import('./prefetch.ts');
    try {
      if (options.allNodes) {
        const { preheat } = await import('./preheat.ts');
        setResult(await preheat(images, options, config.listen, io()));
      } else {
        setResult(await prefetch(images, options, config.listen, io()));
      }
    } catch (error) {
      if (!(error instanceof PrefetchUsageError)) throw error;
      cli.stderr(`shoal: ${error.message}\n`);
      setResult(EXIT_USAGE);
    }
  };

  withDaemonOptions(program.command('prefetch')
    .description('pull images into the running local shoal (manifests and every blob) so the swarm has them before docker pull')
    .addArgument(new Argument('<image...>', 'images as docker pulls them from shoal (localhost:5000/<image>): nginx:1.14, team/app:1, registry.example.com/org/app:tag, name@sha256:...')))
    .addOption(new Option('--platform <os/arch[/variant]>', 'only this platform of multi-platform images (default: every platform)'))
    .addOption(new Option('-j, --jobs <n>', 'blobs downloaded at once (default: 4); with --all-nodes, on each node'))
    .addOption(new Option('--all-nodes', 'every node of the swarm pulls the images (a cluster preheat; same as shoal preheat)'))
    .addHelpText('after', [
      '',
      'Names: shoal asks its upstreams, in order, for the name as written, except that Docker Hub keeps',
      'one-word names under library/: nginx:1.14 is library/nginx:1.14 on Docker Hub, but on a registry:2',
      'seed it is nginx:1.14; there library/nginx is asked as library/nginx, then as nginx (what docker asks',
      'a registry mirror for). registry.example.com/org/app:tag goes to registry.example.com only when it is an upstream',
      'or in allowed-registries; otherwise the whole name is asked of the upstreams.',
      '',
      'Exit code 0 when every image was prefetched, 1 otherwise. On a terminal each image gets a progress bar; in a pipe, a plain line every 2 s.',
    ].join('\n'))
    .action(prefetchAction);

  withDaemonOptions(program.command('preheat')
    .description('every node of the swarm pulls the images (same as prefetch --all-nodes), with a live line per node')
    .addArgument(new Argument('<image...>', 'images as for prefetch: nginx:1.14, team/app:1, name@sha256:...')))
    .addOption(new Option('--platform <os/arch[/variant]>', 'only this platform of multi-platform images (default: every platform)'))
    .addOption(new Option('-j, --jobs <n>', 'blobs each node downloads at once (default: 4)'))
    .addHelpText('after', '\nRun on any node: its daemon asks every member over the swarm (with a cluster key, only key holders are members).\nExit code 0 when every node holds every image, 1 when any node failed or was lost.')
    .action(async (images: string[], options: { platform?: string; jobs?: string }, command: Command) => {
      await prefetchAction(images, { ...options, allNodes: true }, command);
    });

  withDaemonOptions(program.command('status')
    .description('show the local node (addresses, peer id, data dir, upstreams), transfers and its peers'))
    .addOption(new Option('--json', 'print the daemon\'s status snapshot (GET /_shoal/status) as JSON'))
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = await loadWithDaemonLogin(load, command);
      const { status } = await import('./status.ts');
      setResult(await status(options, config.listen, io()));
    });

  withDaemonOptions(program.command('doctor')
    .description('check what commonly breaks a node (daemon, data dir, upstreams, mDNS, peers, ports, docker config, clocks) and say how to fix it'))
    .addOption(new Option('--docker-config <file>', 'docker daemon configuration to check (default: /etc/docker/daemon.json)'))
    .addOption(new Option('--json', 'print the checks as JSON'))
    .addHelpText('after', '\nEach check prints ok, warn or fail. Exit code 0 when none failed.')
    .action(async (options: { dockerConfig?: string; json?: boolean }, command: Command) => {
      const config = await loadWithDaemonLogin(load, command);
      const { doctor } = await import('./doctor.ts');
      setResult(await doctor(options, config, io()));
    });

  withDaemonOptions(program.command('setup')
    .description('print (or with --write apply, keeping a backup) the docker or containerd configuration that pulls through shoal')
    .addArgument(new Argument('<target>', 'what to configure').choices(['docker', 'containerd'])), ['upstream', 'allowedRegistries'])
    .addOption(new Option('--write', 'apply it: edit the files (a timestamped backup of each changed one)'))
    .addOption(new Option('--docker-config <file>', 'docker daemon configuration to edit (default: /etc/docker/daemon.json)'))
    .addOption(new Option('--containerd-dir <dir>', 'containerd registry hosts directory, its config_path (default: /etc/containerd/certs.d)'))
    .addOption(new Option('--containerd-config <file>', 'containerd configuration, read to check config_path (default: /etc/containerd/config.toml)'))
    .addHelpText('after', [
      '',
      'docker:     registry-mirrors in daemon.json (other keys kept); docker.io pulls then go through shoal.',
      'containerd: certs.d/<host>/hosts.toml for each upstream and allowed registry, with shoal as the first host.',
      'The command it suggests for --write repeats the flags given here.',
      'Running it again changes nothing; a file that is not valid JSON is refused and left as it is.',
    ].join('\n'))
    .action(async (target: string, options: { write?: boolean; dockerConfig?: string; containerdDir?: string; containerdConfig?: string }, command: Command) => {
      const given = settingOptions(command);
      const config = await load(given);
      const { setup, SetupError } = await import('./setup.ts');
      try {
        setResult(await setup(target, { ...options, given }, config, io()));
      } catch (error) {
        if (!(error instanceof SetupError)) throw error;
        cli.stderr(`shoal: ${error.message}\n`);
        setResult(1);
      }
    });
}

/** The settings, and the operator's docker login for the daemon's address used on every request to it. */
async function loadWithDaemonLogin(load: Load, command: Command): ReturnType<Load> {
  const config = await load(settingOptions(command));
  useDaemonCredentials(config.listen, config.dockerConfigPath);
  return config;
}
