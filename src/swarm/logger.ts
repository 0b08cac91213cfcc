// The logger the swarm's parts write to: pino's shape, so the daemon's logger fits as is.
export interface SwarmLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** For a swarm given no logger (tests, the bench). */
export const quietLogger: SwarmLogger = { debug() {}, info() {}, warn() {} };
