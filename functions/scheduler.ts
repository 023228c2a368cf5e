import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ScheduledEvent } from 'aws-lambda';
import { type ScheduleResult, scheduleDue } from '../shared/schedule.js';
import { runtime } from './runtime.js';

/** EventBridge tick -> the certificates that are due -> one SQS message each. */
export const handler = async (event: ScheduledEvent): Promise<ScheduleResult> => {
  const rt = await runtime();
  rt.log.info('tick', { scheduledAt: event.time });
  const result = await scheduleDue({ ...rt, queue: rt.queue() });
  rt.metrics.addMetric('CertificatesChecked', MetricUnit.Count, result.checked);
  rt.metrics.addMetric('CertificatesDue', MetricUnit.Count, result.enqueued.length);
  rt.metrics.publishStoredMetrics();
  return result;
};
