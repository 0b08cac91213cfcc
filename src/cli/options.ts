// Commander options generated from the settings table, so `--help` lists every setting with its
// environment variable, YAML key and default, exactly as the README reference does.
import { Option, type Command } from 'commander';
import { SETTING_IDS, SETTINGS, type Setting } from '../config/schema.ts';

export function optionFor(setting: Setting<unknown>): Option {
  const yaml = setting.yaml.length === 0 ? '' : `, yaml ${setting.yaml.join(' or ')}`;
  const defaultText = setting.defaultText.replaceAll('`', '');
  const option = new Option(setting.flag, `${setting.description} (env ${setting.env}${yaml}; default: ${defaultText})`);
  // No commander default: an absent flag must stay absent so the environment and file can apply.
  if (setting.repeatable) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
  return option;
}

export function addSettingOptions(command: Command): Command {
  for (const id of SETTING_IDS) command.addOption(optionFor(SETTINGS[id]));
  return command.addHelpText('after', [
    '',
    'Precedence: flag, then environment, then config file, then default.',
    'Repeatable settings take a comma-separated list in their environment variable.',
  ].join('\n'));
}

/**
 * The options given on the command line, keyed like SETTINGS. Commander pre-sets `--no-x` options
 * to true; passing that on would make an absent `--no-mdns` hide `SHOAL_MDNS=false` and the file.
 */
export function givenOptions(command: Command): Record<string, unknown> {
  const options = command.opts();
  return Object.fromEntries(Object.keys(options)
    .filter((key) => command.getOptionValueSource(key) === 'cli')
    .map((key) => [key, options[key]]));
}

/** A compact list for `shoal --help`: every setting with its environment variable and default. */
export function settingsSummary(): string {
  const rows = SETTING_IDS.map((id) => {
    const setting: Setting<unknown> = SETTINGS[id];
    return [setting.flag, setting.env, setting.defaultText.replaceAll('`', '')] as const;
  });
  const flagWidth = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const envWidth = Math.max(...rows.map(([, env]) => env.length)) + 2;
  return [
    '',
    'Settings of serve and config (flag, environment variable, default; details in shoal serve --help):',
    ...rows.map(([flag, env, defaultText]) => `  ${flag.padEnd(flagWidth)}${env.padEnd(envWidth)}${defaultText}`),
  ].join('\n');
}
