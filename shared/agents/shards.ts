import { createHash } from 'node:crypto';

/**
 * A certificate's delivery split across deliver invocations. Every agent belongs to exactly
 * one shard of `count`, by a hash of its name: agents that join or leave between the split
 * and a shard's turn move no other agent, so no agent is served twice or skipped by the
 * split itself (one that joins meanwhile is served by its own join's delivery).
 */
export interface DeliveryShard {
  index: number;
  count: number;
}

/** At most this many shards: 10,000 agents a shard at the most deliverable fleet. */
export const MAX_SHARDS = 1000;

/** The shard an agent belongs to, out of `count`. */
export function shardOf(agent: string, count: number): number {
  return createHash('sha256').update(agent).digest().readUInt32BE(0) % count;
}

/** How many shards `agents` agents need at `size` a shard (1: no split). */
export function shardCount(agents: number, size: number): number {
  return Math.min(MAX_SHARDS, Math.max(1, Math.ceil(agents / size)));
}
