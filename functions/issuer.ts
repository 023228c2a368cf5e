import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { asCertkeeperError, ConflictError } from '../shared/model/errors.js';
import { parseWorkMessage } from '../shared/queue/queue.js';
import { renewRequested } from '../shared/usecases/renew-requested.js';
import { issuerRuntime } from './issuer-runtime.js';

/**
 * SQS batch -> one renewal per message -> partial batch response. A renewal that failed
 * and recorded its failure in the inventory is done from SQS's point of view (the
 * scheduler retries it at the recorded time); only messages that could not be handled at
 * all (malformed, unknown certificate, state not writable) are returned as failures, so
 * SQS redelivers them and finally moves them to the dead-letter queue; so is an operator's
 * forced request that found the lease held past its wait, rather than being dropped.
 */
export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const rt = await issuerRuntime();
  const results = await Promise.allSettled(
    event.Records.map(async (record) => {
      const message = parseWorkMessage(record.body);
      const outcome = await renewRequested(rt.renewDeps, message, rt.overrides);
      rt.log.info('renewal outcome', {
        messageId: record.messageId,
        ...outcome,
        error: outcome.status === 'failed' ? outcome.error.describe() : undefined,
      });
      if (outcome.status === 'failed') rt.metrics.addMetric('RenewalsFailed', MetricUnit.Count, 1);
      if (outcome.status === 'issued' || outcome.status === 'renewed') {
        rt.metrics.addMetric('RenewalsOk', MetricUnit.Count, 1);
      }
      if (outcome.ariPolled) rt.metrics.addMetric('AriPolls', MetricUnit.Count, 1);
      if (outcome.status === 'busy' && message.force && message.request) {
        throw new ConflictError(
          `forced renewal of ${message.certificate}: another pass still holds its lease`,
        );
      }
    }),
  );
  const batchItemFailures = results.flatMap((r, i) => {
    if (r.status === 'fulfilled') return [];
    const error = asCertkeeperError(r.reason);
    rt.log.error('message not processed', {
      messageId: event.Records[i]!.messageId,
      error: error.describe(),
    });
    return [{ itemIdentifier: event.Records[i]!.messageId }];
  });
  rt.metrics.publishStoredMetrics();
  return { batchItemFailures };
};
