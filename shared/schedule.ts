import type { Inventory } from './inventory/inventory.js';
import type { Clock } from './model/clock.js';
import type { Log } from './model/log.js';
import type { WorkQueue } from './queue/queue.js';
import { dueReason } from './renewal/policy.js';

export interface ScheduleResult {
  checked: number;
  enqueued: string[];
}

/**
 * One scheduler tick: every certificate that has no valid certificate or has reached its
 * renewal time becomes one issuer message. The issuer re-checks under the lock, so a
 * message sent twice costs a read, never a second order.
 */
export async function scheduleDue(deps: {
  inventory: Inventory;
  queue: WorkQueue;
  clock: Clock;
  log: Log;
}): Promise<ScheduleResult> {
  const now = deps.clock.now();
  const records = await deps.inventory.list();
  const due = records.flatMap((r) => {
    const reason = dueReason(r.state, now);
    return reason ? [{ certificate: r.spec.name, reason }] : [];
  });
  await deps.queue.enqueue(due);
  deps.log.info('scheduler tick', { checked: records.length, due: due.length });
  return { checked: records.length, enqueued: due.map((d) => d.certificate) };
}
