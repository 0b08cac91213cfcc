// The command `shoal setup` suggests to apply what it printed. It repeats the flags given, so
// `--write` edits the same files for the same daemon; and since sudo drops the environment, a
// listen address that came from SHOAL_LISTEN goes along as a flag.
import { DEFAULT_LISTEN } from '../config/schema.ts';
import { formatHostPort, type HostPort } from '../config/parse.ts';

/** The shared settings as typed on the command line (commander's keys), for repeating them. */
export interface GivenSettings {
  readonly config?: string;
  readonly listen?: string;
  readonly upstream?: readonly string[];
  readonly allowedRegistries?: readonly string[];
}

export interface SetupFlags {
  readonly given?: GivenSettings;
  readonly dockerConfig?: string;
  readonly containerdDir?: string;
  readonly containerdConfig?: string;
}

export function applyCommand(target: 'docker' | 'containerd', flags: SetupFlags, listen: HostPort): string {
  const given = flags.given ?? {};
  const args: string[] = [];
  const add = (flag: string, value: string | undefined): void => {
    if (value !== undefined) args.push(flag, shellQuote(value));
  };
  add('--config', given.config);
  const effective = formatHostPort(listen);
  add('--listen', given.listen ?? (effective === DEFAULT_LISTEN ? undefined : effective));
  for (const url of given.upstream ?? []) add('--upstream', url);
  for (const host of given.allowedRegistries ?? []) add('--allowed-registries', host);
  if (target === 'docker') add('--docker-config', flags.dockerConfig);
  else {
    add('--containerd-dir', flags.containerdDir);
    add('--containerd-config', flags.containerdConfig);
  }
  return ['sudo npx shoal setup', target, ...args, '--write'].join(' ');
}

/** As a POSIX shell reads it back: plain words as they are, anything else single-quoted. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
