import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { subscribeNewQueue } from '../../scripts/stand-in-stack/stack.js';
import { SnsPublisher } from '../../shared/events/sns.js';
import { CertkeeperError } from '../../shared/model/errors.js';
import type { CertificateEvent } from '../../shared/model/event.js';
import { leakedKey } from '../support/test-keys.js';
import { snsClient, sqsClient, uniqueName } from '../../scripts/test-kit/peers.js';

const sns = snsClient();
const sqs = sqsClient();

const event = (
  certificate: string,
  type: CertificateEvent['type'] = 'certificate.renewed',
): CertificateEvent => ({
  type,
  certificate,
  identifiers: [`${certificate}.example.test`],
  serial: 'AA01',
  notAfter: '2026-06-15T00:00:00.000Z',
  bucket: 'certs',
  manifestKey: `certificates/${certificate}/current.json`,
  at: '2026-05-01T00:05:00.000Z',
});

const subscribedQueue = (topicArn: string, attributes: Record<string, string>): Promise<string> =>
  subscribeNewQueue({ sqs, sns }, topicArn, uniqueName('events'), attributes);

async function drain(queueUrl: string): Promise<Message[]> {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ['All'],
      WaitTimeSeconds: 1,
    }),
  );
  return out.Messages ?? [];
}

let topicArn: string;
beforeAll(async () => {
  topicArn = (await sns.send(new CreateTopicCommand({ Name: uniqueName('certkeeper') }))).TopicArn!;
});

describe('SnsPublisher against moto', () => {
  it('delivers the JSON event with its attributes, raw and enveloped', async () => {
    const raw = await subscribedQueue(topicArn, { RawMessageDelivery: 'true' });
    const enveloped = await subscribedQueue(topicArn, { RawMessageDelivery: 'false' });
    await new SnsPublisher(sns, { topicArn }).publish(event('web'));

    // Raw delivery: the body is our JSON; SNS attributes become SQS message attributes.
    const [rawMessage] = await drain(raw);
    expect(JSON.parse(rawMessage!.Body!)).toEqual(event('web'));
    expect(rawMessage!.MessageAttributes?.type?.StringValue).toBe('certificate.renewed');
    expect(rawMessage!.MessageAttributes?.certificate?.StringValue).toBe('web');

    // Enveloped: SNS wraps the body and carries the attributes as {Type, Value} inside.
    const [wrapped] = await drain(enveloped);
    const envelope = JSON.parse(wrapped!.Body!) as {
      Type: string;
      Message: string;
      MessageAttributes: Record<string, { Type: string; Value: string }>;
    };
    expect(envelope.Type).toBe('Notification');
    expect(JSON.parse(envelope.Message)).toEqual(event('web'));
    expect(envelope.MessageAttributes.type).toEqual({ Type: 'String', Value: 'certificate.renewed' });
    expect(envelope.MessageAttributes.certificate).toEqual({ Type: 'String', Value: 'web' });
  });

  it('lets a filter policy on `certificate` pick the events for one certificate', async () => {
    const filtered = await subscribedQueue(topicArn, {
      RawMessageDelivery: 'true',
      FilterPolicy: JSON.stringify({ certificate: ['api'] }),
    });
    const publisher = new SnsPublisher(sns, { topicArn });
    await publisher.publish(event('web'));
    await publisher.publish(event('api', 'certificate.issued'));
    await publisher.publish(event('admin'));
    const received = await drain(filtered);
    expect(received.map((m) => (JSON.parse(m.Body!) as CertificateEvent).certificate)).toEqual(['api']);
  });

  it('refuses to publish anything that carries a private key, without echoing it', async () => {
    const queue = await subscribedQueue(topicArn, { RawMessageDelivery: 'true' });
    const key = leakedKey();
    const leaky = { ...event('leak', 'certificate.renewal_failed'), error: { detail: key.pem } };
    const err = await new SnsPublisher(sns, { topicArn }).publish(leaky).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertkeeperError);
    expect((err as Error).message).toContain('leak');
    expect((err as Error).message).not.toContain(key.secret);
    expect(await drain(queue)).toEqual([]);
  });
});
