/**
 * The logging port shared/ writes to. Powertools' Logger satisfies it in Lambdas; the CLI
 * and tests pass their own. Callers never put key material in `extra`.
 */
export interface Log {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
