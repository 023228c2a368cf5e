import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { callAws } from '../aws/errors.js';
import type { Clock } from '../model/clock.js';
import type { NotificationMessage } from './format.js';
import type { NotificationTarget } from './target.js';

export interface SnsEmailOptions {
  /** A topic with email subscriptions only: SNS mails Subject and Message as they are. */
  topicArn: string;
  clock?: Clock;
}

/**
 * Email through SNS: no mail server or SES identity to run, and subscribers confirm
 * themselves. Not the events topic: that one carries JSON for machines.
 */
export class SnsEmailTarget implements NotificationTarget {
  readonly name = 'email';

  constructor(
    private readonly client: SNSClient,
    private readonly options: SnsEmailOptions,
  ) {}

  async send(message: NotificationMessage): Promise<void> {
    const { topicArn, clock } = this.options;
    await callAws(
      { service: 'SNS', operation: 'Publish', resource: topicArn, clock, client: this.client },
      () =>
        // The formatter keeps subjects within SNS's rule (ASCII, one line, 100 characters).
        this.client.send(
          new PublishCommand({ TopicArn: topicArn, Subject: message.subject, Message: message.text }),
        ),
    );
  }
}
