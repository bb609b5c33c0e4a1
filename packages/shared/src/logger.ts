import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import { z } from 'zod';

export type { Logger };

/**
 * `json`: one JSON object per line (what log collectors read); `pretty`: one coloured line per
 * event for a person at a terminal.
 */
export const logFormat = z.enum(['json', 'pretty']);
export type LogFormat = z.infer<typeof logFormat>;

/** Pretty when a person is watching (stdout is a terminal), JSON otherwise. */
export const defaultLogFormat = (): LogFormat => (process.stdout.isTTY ? 'pretty' : 'json');

/** Logs to stdout with the service name on every line; `format` as LOG_FORMAT says. */
export function createLogger(
  service: string,
  level: LevelWithSilent = 'info',
  format: LogFormat = 'json',
): Logger {
  const options = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'token', '*.token'], censor: '[redacted]' },
  };
  if (format === 'json') return pino(options);
  // Synchronous and in-process (no transport thread), so a crash loses no line. The service name
  // is left out: `npm start` already prefixes each line with it.
  return pino(
    options,
    pretty({
      sync: true,
      singleLine: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,service',
    }),
  );
}
