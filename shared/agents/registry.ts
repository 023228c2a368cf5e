import type { AgentRecord } from '../model/agent.js';

/**
 * Port: the agent registry, agents as data (issue: a fleet of any size). Records are small
 * and change rarely (add, join, identity renewal, removal), so the port is a read, a list
 * and one optimistic change: `change` sees the stored record (undefined when absent) and
 * returns the record to write, or undefined to leave it; the write happens only if the
 * record did not change in between, else `change` is asked again with what is stored now.
 * `change` may run more than once and must decide from its argument alone; what it throws
 * (a refusal) comes back to the caller unchanged.
 */
export interface AgentRegistry {
  get(name: string): Promise<AgentRecord | undefined>;
  /** Every agent, removed ones included, sorted by name. */
  list(): Promise<AgentRecord[]>;
  update(
    name: string,
    change: (stored: AgentRecord | undefined) => AgentRecord | undefined,
  ): Promise<AgentRecord | undefined>;
}
