import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { parseDeliveryMessage } from '../shared/agents/delivery-message.js';
import { asCertkeeperError } from '../shared/model/errors.js';
import { deliverCertificate, deliverToAgent } from '../shared/usecases/deliver-certificates.js';
import { agentsRuntime } from './agents-runtime.js';

/**
 * The deliver queue -> one delivery per message: a certificate event from the topic (to
 * every agent that selects it, or split into shard messages when they are many), a shard of
 * one, or an agent's name (everything it selects). A message that
 * cannot be read is dropped with a warning (it would never get better); a delivery that
 * failed for some agents goes back to the queue, and the fleet tick redelivers what is stale.
 */
export const handler = async (event: SQSEvent): Promise<SQSBatchResponse> => {
  const rt = await agentsRuntime();
  const failures: { itemIdentifier: string }[] = [];
  for (const record of event.Records) {
    try {
      const message = parseDeliveryMessage(record.body);
      if (message.kind === 'ignored') {
        rt.log.warn('deliver: message ignored', { messageId: record.messageId, reason: message.reason });
        continue;
      }
      const result =
        message.kind === 'certificate'
          ? await deliverCertificate(rt.delivery, message.certificate, message.shard)
          : await deliverToAgent(rt.delivery, message.agent);
      rt.log.info(result.shards ? 'delivery split' : 'delivered', {
        messageId: record.messageId,
        ...message,
        ...result,
      });
      rt.metrics.addMetric('Deliveries', MetricUnit.Count, result.delivered.length);
      if (result.shards) rt.metrics.addMetric('DeliveryShards', MetricUnit.Count, result.shards);
      if (result.failed.length) {
        rt.metrics.addMetric('DeliveriesFailed', MetricUnit.Count, result.failed.length);
        failures.push({ itemIdentifier: record.messageId });
      }
    } catch (err) {
      rt.log.error('deliver: message not processed', {
        messageId: record.messageId,
        error: asCertkeeperError(err).describe(),
      });
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  rt.metrics.publishStoredMetrics();
  return { batchItemFailures: failures };
};
