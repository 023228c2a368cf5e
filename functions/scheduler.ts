import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ScheduledEvent } from 'aws-lambda';
import { type ScheduleResult, scheduleDue } from '../shared/usecases/schedule-due.js';
import { type InventoryStats, inventoryStats } from '../shared/usecases/inventory-stats.js';
import { runtime } from './runtime.js';

/** The hourly rule sends this constant input instead of a scheduled event. */
type StatsRequest = { action: 'stats' };

/**
 * EventBridge tick -> the certificates that are due -> one SQS message each, plus the
 * `SchedulerTicks` heartbeat metric the stack alarms on. The hourly `{"action":"stats"}`
 * run reads the whole inventory for the status and time-to-expiry metrics instead.
 */
export const handler = async (
  event: ScheduledEvent | StatsRequest,
): Promise<ScheduleResult | InventoryStats> => {
  const rt = await runtime();
  if ('action' in event && event.action === 'stats') {
    const stats = inventoryStats(await rt.inventory.list(), rt.clock.now());
    for (const [status, count] of Object.entries(stats.byStatus)) {
      rt.metrics.addMetric(
        `Certificates${status[0]!.toUpperCase()}${status.slice(1)}`,
        MetricUnit.Count,
        count,
      );
    }
    if (stats.minHoursToExpiry !== undefined) {
      rt.metrics.addMetric('MinHoursToExpiry', MetricUnit.Count, stats.minHoursToExpiry);
    }
    rt.log.info('inventory stats', { ...stats });
    rt.metrics.publishStoredMetrics();
    return stats;
  }
  const result = await scheduleDue({ ...rt, queue: rt.queue() });
  rt.metrics.addMetric('SchedulerTicks', MetricUnit.Count, 1);
  rt.metrics.addMetric('CertificatesDue', MetricUnit.Count, result.enqueued.length);
  rt.metrics.publishStoredMetrics();
  return result;
};
