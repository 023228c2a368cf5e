/**
 * The EventPublisher contract, run against every adapter: memory (tests, local mode) and
 * SNS (moto, delivered to an SQS queue with raw delivery, as agents receive it). Whatever
 * the adapter, the event arrives whole and once, and key material never leaves.
 */
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type EventPublisher, MemoryPublisher } from '../../shared/events/publisher.js';
import { SnsPublisher } from '../../shared/events/sns.js';
import { CertkeeperError } from '../../shared/model/errors.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import { snsClient, sqsClient, uniqueName } from '../../scripts/test-kit/peers.js';
import { leakedKey } from '../support/test-keys.js';

interface PublisherAdapter {
  name: string;
  open(): Promise<{ publisher: EventPublisher; received(): Promise<{ event: unknown; type?: string }[]> }>;
}

const ADAPTERS: PublisherAdapter[] = [
  {
    name: 'MemoryPublisher',
    async open() {
      const publisher = new MemoryPublisher();
      return {
        publisher,
        received: async () => publisher.events.map((event) => ({ event, type: event.type })),
      };
    },
  },
  {
    name: 'SnsPublisher (moto, to SQS)',
    async open() {
      const sns = snsClient();
      const sqs = sqsClient();
      const name = uniqueName('events-contract').slice(0, 60);
      const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: name }));
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
      );
      await sns.send(
        new SubscribeCommand({
          TopicArn,
          Protocol: 'sqs',
          Endpoint: Attributes!.QueueArn,
          Attributes: { RawMessageDelivery: 'true' },
        }),
      );
      return {
        publisher: new SnsPublisher(sns, { topicArn: TopicArn! }),
        async received() {
          const out = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
          );
          return (out.Messages ?? []).map((m) => ({
            event: JSON.parse(m.Body!) as unknown,
            type: m.MessageAttributes?.['type']?.StringValue,
          }));
        },
      };
    },
  },
];

const lagging: CertificateEvent = {
  type: 'certificate.deployment_lagging',
  certificate: 'site',
  identifiers: ['example.com'],
  serial: '0A1B',
  target: { kind: 'agent', id: 'web-2', health: 'behind', installedSerial: '09FF', error: 'rolled back' },
  at: '2026-11-27T12:00:00.000Z',
};

describe.each(ADAPTERS)('EventPublisher contract: $name', (adapter) => {
  let publisher: EventPublisher;
  let received: () => Promise<{ event: unknown; type?: string }[]>;
  beforeAll(async () => {
    ({ publisher, received } = await adapter.open());
  });

  it('delivers the event whole, once, with its type for filtering', async () => {
    await publisher.publish(lagging);
    const got = await received();
    expect(got).toHaveLength(1);
    expect(got[0]!.event).toEqual(lagging);
    expect(got[0]!.type).toBe('certificate.deployment_lagging');
  });

  it('refuses an event carrying a private key, and sends nothing', async () => {
    const before = (await received()).length;
    const err = await publisher
      .publish({ ...lagging, target: { ...lagging.target!, error: leakedKey().pem } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertkeeperError);
    expect(String((err as Error).message)).not.toContain('PRIVATE KEY');
    expect((await received()).length - before).toBe(0);
  });
});
