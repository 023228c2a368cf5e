import {
  buildNotifierRuntime,
  type NotifierOverrides,
  type NotifierRuntime,
} from '../composition/notifier.js';

/** The notifier's runtime (composition/notifier.ts), once per cold start. */
let current: Promise<NotifierRuntime> | undefined;
let overrides: NotifierOverrides = {};

export function notifierRuntime(): Promise<NotifierRuntime> {
  current ??= Promise.resolve().then(() => buildNotifierRuntime(process.env, overrides));
  return current;
}

/** Tests change the environment between cases and call this for a fresh cold start. */
export function resetNotifierRuntime(next: NotifierOverrides = {}): void {
  current = undefined;
  overrides = next;
}
