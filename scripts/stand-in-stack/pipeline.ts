/**
 * Drives the real handlers the way AWS would: an EventBridge scheduled event to the
 * scheduler, then the messages it queued, received from SQS and handed to the issuer as an
 * SQS event (what the Lambda event source mapping does), deleting those it reports done.
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { CloudFormationCustomResourceEvent, ScheduledEvent, SQSBatchResponse } from 'aws-lambda';
import { handler as issuer } from '../../functions/issuer.js';
import { handler as scheduler } from '../../functions/scheduler.js';
import type { ScheduleResult } from '../../shared/usecases/schedule-due.js';
import { sqsEvent } from './sqs-event.mjs';

export function scheduledEvent(at = new Date()): ScheduledEvent {
  return {
    version: '0',
    id: crypto.randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: at.toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:000000000000:rule/certkeeper-tick'],
    detail: {},
  };
}

export { sqsEvent };

/** CloudFormation (through the CDK Provider framework) -> the inventory custom resource. */
export function customResourceEvent(
  type: 'Create' | 'Update' | 'Delete',
  certificates: unknown,
  /** Other properties (AgentsGzip), or another resource type with its own (the agents' CA). */
  extra: { properties?: Record<string, string>; resourceType?: string } = {},
): CloudFormationCustomResourceEvent {
  const base = {
    ServiceToken: 'arn:aws:lambda:us-east-1:000000000000:function:provider',
    ResponseURL: 'https://cloudformation-custom-resource-response.example/',
    StackId: 'arn:aws:cloudformation:us-east-1:000000000000:stack/Certkeeper/1',
    RequestId: crypto.randomUUID(),
    LogicalResourceId: extra.resourceType ? 'AgentCa' : 'Inventory',
    ResourceType: extra.resourceType ?? 'Custom::CertkeeperInventory',
    ResourceProperties: extra.resourceType
      ? { ServiceToken: 'x', ...extra.properties }
      : { ServiceToken: 'x', Certificates: JSON.stringify(certificates), ...extra.properties },
  };
  const physical = { PhysicalResourceId: 'certkeeper-inventory' };
  if (type === 'Create') return { ...base, RequestType: 'Create' };
  if (type === 'Delete') return { ...base, ...physical, RequestType: 'Delete' };
  return { ...base, ...physical, RequestType: 'Update', OldResourceProperties: { ServiceToken: 'x' } };
}

/** Receives up to `max` messages, stopping at the first empty short poll. */
export async function receiveAll(sqs: SQSClient, queueUrl: string, max = 100): Promise<Message[]> {
  const out: Message[] = [];
  while (out.length < max) {
    const got = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (!got.Messages?.length) break;
    out.push(...got.Messages);
  }
  return out;
}

export interface TickResult {
  scheduled: ScheduleResult;
  issuer: SQSBatchResponse;
}

/** One scheduler tick, then the issuer on everything it queued. */
export async function runTick(sqs: SQSClient, queueUrl: string): Promise<TickResult> {
  // A scheduled event (not the stats input) always yields the tick's result.
  const scheduled = (await scheduler(scheduledEvent())) as ScheduleResult;
  const messages = await receiveAll(sqs, queueUrl);
  const response = messages.length ? await issuer(sqsEvent(messages)) : { batchItemFailures: [] };
  const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  const done = messages.filter((m) => !failed.has(m.MessageId!));
  for (let i = 0; i < done.length; i += 10) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: done.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return { scheduled, issuer: response };
}
