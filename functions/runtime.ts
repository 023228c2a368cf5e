import { buildRuntime, type Runtime, type RuntimeOverrides } from '../composition/aws.js';

export type { Runtime, RuntimeOverrides } from '../composition/aws.js';

/**
 * The handlers' runtime, built once per cold start from the environment (composition/aws.ts
 * composes it). Tests re-point the handlers at other peers with resetRuntime.
 */
let current: Promise<Runtime> | undefined;
let overrides: RuntimeOverrides = {};

export function runtime(): Promise<Runtime> {
  if (!current) {
    current = Promise.resolve().then(() => buildRuntime(process.env, overrides));
    // A failed cold start (bad environment) is not cached: the next invocation retries.
    current.catch(() => (current = undefined));
  }
  return current;
}

/** Tests re-point the handlers at other peers (or another clock); Lambdas never call this. */
export function resetRuntime(next: RuntimeOverrides = {}): void {
  current = undefined;
  overrides = next;
}
