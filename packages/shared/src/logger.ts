import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** JSON logs to stdout, one line per event, with the service name on every line. */
export function createLogger(service: string, level: LevelWithSilent = 'info'): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'token', '*.token'], censor: '[redacted]' },
  });
}
