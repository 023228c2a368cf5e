import type { Heartbeat } from '../heartbeat/heartbeat.js';
import type { Inventory } from '../inventory/inventory.js';
import type { Clock } from '../model/clock.js';
import type { Log } from '../model/log.js';
import type { WorkQueue } from '../queue/queue.js';
import { dueReason } from '../renewal/policy.js';

export interface ScheduleResult {
  /** Certificates whose dueAt has passed. */
  checked: number;
  /** Inventory items the due query read (its cost). */
  itemsRead: number;
  enqueued: string[];
}

/**
 * One scheduler tick: the due index yields the certificates whose `dueAt` has passed, and
 * each becomes one issuer message, so a tick costs in proportion to the due items, not the
 * inventory. The issuer decides under the lease what is actually due (renewal, ARI poll,
 * expiry warning) and recomputes `dueAt`, so a message sent twice costs a read, never a
 * second order. Ends with the heartbeat that an alarm watches.
 */
export async function scheduleDue(deps: {
  inventory: Inventory;
  heartbeat: Heartbeat;
  queue: WorkQueue;
  clock: Clock;
  log: Log;
}): Promise<ScheduleResult> {
  const now = deps.clock.now();
  const { records, itemsRead } = await deps.inventory.listDue(now);
  // A passed dueAt the policy no longer agrees with is stale: the issuer's pass corrects it.
  const messages = records.map((r) => ({
    certificate: r.spec.name,
    reason: dueReason(r.spec, r.state, now) ?? 'recheck',
  }));
  await deps.queue.enqueue(messages);
  await deps.heartbeat.record(now, { checked: records.length, enqueued: messages.length });
  deps.log.info('scheduler tick', { due: records.length, itemsRead });
  return { checked: records.length, itemsRead, enqueued: messages.map((m) => m.certificate) };
}
