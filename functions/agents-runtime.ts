import { type AgentsRuntime, buildAgentsRuntime } from '../composition/agents.js';
import { type Clock, systemClock } from '../shared/model/clock.js';

/**
 * The identity and deliver functions' runtime (composition/agents.ts), once per cold start.
 * Tests re-point the handlers at other peers (or another clock) with resetAgentsRuntime.
 */
let current: Promise<AgentsRuntime> | undefined;
let clockOverride: Clock | undefined;

export function agentsRuntime(): Promise<AgentsRuntime> {
  if (!current) {
    current = Promise.resolve().then(() => buildAgentsRuntime(process.env, clockOverride ?? systemClock));
    current.catch(() => (current = undefined));
  }
  return current;
}

/** Tests re-point the handlers at other peers (or another clock); Lambdas never call this. */
export function resetAgentsRuntime(clock?: Clock): void {
  current = undefined;
  clockOverride = clock;
}
