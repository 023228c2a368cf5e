import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { callAws } from '../aws/errors.js';
import type { Clock } from '../model/clock.js';
import type { CertificateEvent } from '../model/event.js';
import { type EventPublisher, assertNoKeyMaterial } from './publisher.js';

export interface SnsPublisherOptions {
  topicArn: string;
  /** Used to date throttling errors; defaults to the system clock. */
  clock?: Clock;
}

/**
 * Publishes certificate events to one SNS topic: the JSON event as the body, and `type` and
 * `certificate` as String message attributes so subscribers can filter without parsing it.
 */
export class SnsPublisher implements EventPublisher {
  constructor(
    private readonly client: SNSClient,
    private readonly options: SnsPublisherOptions,
  ) {}

  async publish(event: CertificateEvent): Promise<void> {
    const message = JSON.stringify(event);
    assertNoKeyMaterial(message, event);
    await callAws(
      {
        service: 'SNS',
        operation: 'Publish',
        resource: this.options.topicArn,
        clock: this.options.clock,
        client: this.client,
      },
      () =>
        this.client.send(
          new PublishCommand({
            TopicArn: this.options.topicArn,
            Message: message,
            MessageAttributes: {
              type: { DataType: 'String', StringValue: event.type },
              certificate: { DataType: 'String', StringValue: event.certificate },
            },
          }),
        ),
    );
  }
}
