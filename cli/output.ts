/**
 * How every certkeeper command talks: tables for people, `--json` for scripts, progress
 * lines on stderr only when stderr is a terminal, and no colour unless stdout is a
 * terminal (and NO_COLOR is unset). One place, so every command behaves the same.
 */

/** Exit codes, the same for every command (and listed in `--help`). */
export const EXIT = {
  /** Done; everything it looked at is healthy. */
  ok: 0,
  /** Done, but something needs attention (a failed check, renewal, or unhealthy certificate). */
  attention: 1,
  /** Could not run: bad usage or configuration. Nothing was written. */
  usage: 2,
  /** Could not reach AWS or the CA. */
  unreachable: 3,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0  done, and everything it looked at is healthy
  1  done, but something needs attention (a failed check, renewal or certificate)
  2  bad usage or configuration; nothing was written
  3  AWS or the CA could not be reached`;

export interface Output {
  readonly json: boolean;
  /** A result object: printed as JSON with --json, else rendered by `human`. */
  result(value: unknown, human: () => void): void;
  table(rows: readonly Record<string, string>[], columns?: readonly string[]): void;
  line(text: string): void;
  /** A step of a long operation (order, validation, finalize): stderr, TTY only. */
  progress(text: string): void;
  /** Colours (green/yellow/red) when stdout is a terminal and NO_COLOR is unset. */
  paint(text: string, tone: 'ok' | 'warn' | 'fail'): string;
}

export interface OutputOptions {
  json?: boolean;
  stdout?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  stderr?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
}

const TONES = { ok: 32, warn: 33, fail: 31 } as const;
// eslint-disable-next-line no-control-regex -- matching the escape sequences we emit is the point
const ANSI = /\u001b\[[0-9;]*m/g;

export function createOutput(options: OutputOptions = {}): Output {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const json = options.json ?? false;
  const colour = Boolean(stdout.isTTY) && !process.env.NO_COLOR && !json;
  const write = (s: string) => void stdout.write(s);
  return {
    json,
    result(value, human) {
      if (json) write(`${JSON.stringify(value, null, 2)}\n`);
      else human();
    },
    table(rows, columns) {
      const cols = columns ?? Object.keys(rows[0] ?? {});
      if (rows.length === 0) {
        write('(none)\n');
        return;
      }
      // Width by visible length: colour codes take no columns.
      const visible = (s: string) => s.replace(ANSI, '').length;
      const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => visible(r[c] ?? ''))));
      const render = (cells: string[]) =>
        cells
          .map((cell, i) => cell + ' '.repeat(Math.max(0, widths[i]! - visible(cell))))
          .join('  ')
          .trimEnd();
      write(`${render(cols.map((c) => c.toUpperCase()))}\n`);
      for (const row of rows) write(`${render(cols.map((c) => row[c] ?? ''))}\n`);
    },
    line(text) {
      if (!json) write(`${text}\n`);
    },
    progress(text) {
      if (stderr.isTTY && !json) stderr.write(`… ${text}\n`);
    },
    paint(text, tone) {
      return colour ? `\u001b[${TONES[tone]}m${text}\u001b[0m` : text;
    },
  };
}

/** "in 3 d 4 h", "2 h ago": durations people read at a glance (rounded as shared/model/age.ts does). */
export { relativeTime } from '../shared/model/age.js';
