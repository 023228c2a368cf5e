import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { callAws } from '../aws/errors.js';
import type { Clock } from '../model/clock.js';
import { agentDeliveryMessage } from './delivery-message.js';

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
