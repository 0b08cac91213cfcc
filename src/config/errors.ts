/**
 * A configuration mistake the operator must fix. The message is one line naming the setting,
 * where the value came from and what was expected; the CLI prints it as `shoal: <message>`.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
