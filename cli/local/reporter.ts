import type { LocalReporter } from '../../composition/local.js';
import type { OrderStep } from '../../shared/acme/ca.js';
import { type Output, terminalSafe } from '../output.js';

/** Lines for people on stderr, so stdout stays the result (a table, or JSON for scripts). */
export function say(out: Output, text: string): void {
  if (!out.json) process.stderr.write(`${terminalSafe(text)}\n`);
}

/** Errors go to stderr always, --json or not: the exit code tells scripts, the text tells people. */
export function sayError(text: string): void {
  process.stderr.write(`certkeeper: ${terminalSafe(text)}\n`);
}

/** Progress (order, validation, finalize) and the log of shared/ as TTY-only progress lines. */
export function reporterFor(out: Output): LocalReporter {
  const line = (message: string, extra?: Record<string, unknown>) =>
    out.progress(extra && Object.keys(extra).length > 0 ? `${message} ${JSON.stringify(extra)}` : message);
  return {
    log: { debug: () => {}, info: line, warn: line, error: line },
    step: (name, step) => out.progress(stepText(name, step)),
    note: (text) => out.progress(text),
  };
}

const STEP_TEXT: Record<OrderStep, string> = {
  order: 'placing the order',
  authorize: 'presenting the challenges',
  validate: 'the CA is validating',
  finalize: 'finalizing',
  download: 'downloading the certificate',
};
export const stepText = (name: string, step: OrderStep): string => `${name}: ${STEP_TEXT[step]}`;
