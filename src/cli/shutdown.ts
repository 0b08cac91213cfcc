// Graceful stop on SIGTERM/SIGINT: drain, then exit 0. A second signal, or a drain that takes too
// long, exits 1 at once: an operator (or systemd) asking twice wants the process gone.
import type { Logger } from 'pino';
import { formatDuration } from '../config/parse.ts';

export const DRAIN_TIMEOUT_MS = 30_000;
export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export interface ShutdownOptions {
  /** Stops accepting work and resolves once requests in flight are done. */
  readonly close: () => Promise<void>;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  readonly exit: (code: number) => void;
  /** `process` in production; an EventEmitter in tests. */
  readonly signals: { on(signal: (typeof SHUTDOWN_SIGNALS)[number], listener: (signal: string) => void): unknown };
  readonly drainTimeoutMs?: number;
}

export function exitOnShutdownSignals(options: ShutdownOptions): void {
  const { close, logger, exit, signals, drainTimeoutMs = DRAIN_TIMEOUT_MS } = options;
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for the drain');
      exit(1);
      return;
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: draining requests in flight (signal again to exit now)');
    // Not unref'd: this timer is what ends a drain that hangs.
    const deadline = setTimeout(() => {
      logger.error(`shutdown did not finish within ${formatDuration(drainTimeoutMs)}; exiting`);
      exit(1);
    }, drainTimeoutMs);
    close().then(
      () => {
        clearTimeout(deadline);
        exit(0);
      },
      (error: unknown) => {
        clearTimeout(deadline);
        logger.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  for (const signal of SHUTDOWN_SIGNALS) signals.on(signal, onSignal);
}
