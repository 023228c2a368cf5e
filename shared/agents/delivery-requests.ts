import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { callAws } from '../aws/errors.js';
import type { Clock } from '../model/clock.js';
import { CertkeeperError } from '../model/errors.js';
import { agentDeliveryMessage, shardDeliveryMessage } from './delivery-message.js';

/**
 * Asks for one agent's delivery: a `{"deliver": {"agent": ...}}` message on the deliver
 * queue (delivery-message.ts), sent by the identity function after a join and by the fleet
 * tick for an inbox that fell behind.
 */
export function sqsDeliveryRequests(
  sqs: SQSClient,
  queueUrl: string,
  clock: Clock,
): (agent: string) => Promise<void> {
  return async (agent) => {
    await callAws({ service: 'SQS', operation: 'SendMessage', resource: queueUrl, client: sqs, clock }, () =>
      sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: agentDeliveryMessage(agent) })),
    );
  };
}

/**
 * Splits a certificate's delivery: `count` shard messages on the deliver queue, ten to a
 * SendMessageBatch (SQS's limit), each its own deliver invocation. Any entry SQS refused
 * fails the whole request, so the certificate message goes back to the queue and splits
 * again; a shard delivered twice changes nothing (deliveries are idempotent).
 */
export function sqsShardRequests(
  sqs: SQSClient,
  queueUrl: string,
  clock: Clock,
): (certificate: string, count: number) => Promise<void> {
  return async (certificate, count) => {
    for (let first = 0; first < count; first += 10) {
      const entries = Array.from({ length: Math.min(10, count - first) }, (_, i) => ({
        Id: String(first + i),
        MessageBody: shardDeliveryMessage(certificate, { index: first + i, count }),
      }));
      const out = await callAws(
        { service: 'SQS', operation: 'SendMessageBatch', resource: queueUrl, client: sqs, clock },
        () => sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries })),
      );
      const refused = out.Failed ?? [];
      if (refused.length) {
        throw new CertkeeperError(
          'internal',
          `SQS refused ${refused.length} of the ${entries.length} shard messages of ${certificate} (${refused[0]!.Code}: ${refused[0]!.Message ?? 'no message'})`,
          { retryable: true },
        );
      }
    }
  };
}
