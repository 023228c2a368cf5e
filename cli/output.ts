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

/**
 * What may not reach a terminal as it is: C0 controls but the line feed and tab, DEL, C1
 * controls (0x9B is a CSI on its own) and the Unicode bidirectional overrides and isolates
 * (text that reads otherwise than it is). An agent's lastError or a CA's problem detail is
 * text from elsewhere: raw, it could move the cursor, rewrite lines, set the window title,
 * or hide what follows. Our own colours (`paint`) are the only escape kept.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNSAFE = /\u001b\[(?:0|31|32|33)m|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- as above, with line breaks: a table cell is one line
const UNSAFE_IN_CELL = /\u001b\[(?:0|31|32|33)m|[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const escape = (c: string): string =>
  c.length > 1 ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Text made safe for a terminal: each unsafe character written as `\uXXXX`, the colour
 * sequences `paint` emits kept. For every human line certkeeper writes, stdout and stderr.
 */
export function terminalSafe(text: string, oneLine = false): string {
  return text.replace(oneLine ? UNSAFE_IN_CELL : UNSAFE, escape);
}

export function createOutput(options: OutputOptions = {}): Output {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const json = options.json ?? false;
  const colour = Boolean(stdout.isTTY) && !process.env.NO_COLOR && !json;
  const write = (s: string) => void stdout.write(s);
  const cell = (s: string) => terminalSafe(s, true);
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
      const safe = rows.map((r) => Object.fromEntries(cols.map((c) => [c, cell(r[c] ?? '')])));
      const widths = cols.map((c) => Math.max(c.length, ...safe.map((r) => visible(r[c]!))));
      const render = (cells: string[]) =>
        cells
          .map((cell, i) => cell + ' '.repeat(Math.max(0, widths[i]! - visible(cell))))
          .join('  ')
          .trimEnd();
      write(`${render(cols.map((c) => c.toUpperCase()))}\n`);
      for (const row of safe) write(`${render(cols.map((c) => row[c]!))}\n`);
    },
    line(text) {
      if (!json) write(`${terminalSafe(text)}\n`);
    },
    progress(text) {
      if (stderr.isTTY && !json) stderr.write(`… ${terminalSafe(text)}\n`);
    },
    paint(text, tone) {
      // The text is escaped here too, so that a colour cannot be closed or opened inside it.
      const safe = terminalSafe(text.replace(ANSI, ''), true);
      return colour ? `\u001b[${TONES[tone]}m${safe}\u001b[0m` : safe;
    },
  };
}

/** "in 3 d 4 h", "2 h ago": durations people read at a glance (rounded as shared/model/age.ts does). */
export { relativeTime } from '../shared/model/age.js';
