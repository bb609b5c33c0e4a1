import type { Logger } from 'pino';
import { flushTraces } from './tracing.js';

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits. A second signal, or a stop that outlives
 * `timeoutMs`, exits at once: an operator's second Ctrl-C must always work. A process started
 * with an IPC channel (by `npm start`'s supervisor) also stops when that channel closes: its
 * supervisor is gone, and nobody would stop it otherwise.
 */
export function handleShutdown(
  stop: (signal: NodeJS.Signals) => Promise<void>,
  options: { logger: Logger; timeoutMs?: number },
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      options.logger.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    options.logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      options.logger.error('shutdown timed out, exiting');
      process.exit(1);
    }, options.timeoutMs ?? 30_000);
    timer.unref();
    stop(signal).then(
      // The last requests' spans leave before the process does (nothing to do with tracing off).
      () => flushTraces().then(() => process.exit(0)),
      (err: unknown) => {
        options.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (process.channel) {
    // The channel alone must not keep the process alive.
    process.channel.unref();
    process.once('disconnect', () => {
      if (!stopping) onSignal('SIGTERM');
    });
  }
}
