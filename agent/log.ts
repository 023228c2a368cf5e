import type { Log } from '../shared/model/log.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * One line per entry on stderr, which journald keeps with its own timestamp and priority:
 * `WARN message {"certificate":"web"}`. The level comes from CERTKEEPER_LOG_LEVEL.
 */
export function consoleLog(
  level: LogLevel = parseLevel(process.env.CERTKEEPER_LOG_LEVEL),
  write: (line: string) => void = (line) => process.stderr.write(line),
): Log {
  const min = LOG_LEVELS.indexOf(level);
  const at =
    (l: LogLevel) =>
    (message: string, extra?: Record<string, unknown>): void => {
      if (LOG_LEVELS.indexOf(l) < min) return;
      const tail = extra && Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : '';
      write(`${l.toUpperCase()} ${message}${tail}\n`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function parseLevel(value: string | undefined): LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value ?? '') ? (value as LogLevel) : 'info';
}
