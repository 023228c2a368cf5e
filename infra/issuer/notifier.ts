/**
 * Alerts for people: the notifier Lambda hears the alert-worthy certificate events and
 * every alarm, and passes them to the notifications topic (email) and the configured chat
 * channels and webhook.
 */
import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { DeploymentConfig } from '../../shared/config/deployment.js';
import type { EventType } from '../../shared/model/event.js';
import { allow, type FunctionFactory, secretResource } from './lambda.js';
import type { IssuerStorage } from './storage.js';

/** Events that someone should hear about; the rest (issued, renewed) are for agents. */
export const ALERT_EVENT_TYPES: readonly EventType[] = [
  'certificate.renewal_failed',
  'certificate.expiring',
  'certificate.revoked',
  'certificate.deployment_lagging',
  'certificate.deployment_recovered',
];

export interface IssuerNotifierProps {
  readonly alerts: Partial<DeploymentConfig['alerts']>;
  /** Certificate events: the notifier subscribes to ALERT_EVENT_TYPES. */
  readonly eventsTopic: sns.ITopic;
  /** CloudWatch alarm actions: the notifier subscribes to all of them. */
  readonly alarmsTopic: sns.ITopic;
  /** Where an alert that still fails after Lambda's retries is kept. */
  readonly deadLetterQueue: sqs.IQueue;
}

/** Made in the CertkeeperIssuer's own scope, so every logical ID is the issuer's (see storage.ts). */
export class IssuerNotifier {
  /** Human-readable alerts from the notifier; the configured email addresses subscribe. */
  readonly notificationsTopic: sns.Topic;
  readonly notifier: lambda.Function;

  constructor(storage: IssuerStorage, fn: FunctionFactory, props: IssuerNotifierProps) {
    const { alerts } = props;
    this.notificationsTopic = storage.topic('Notifications', 'certkeeper notifications');
    for (const address of alerts.email ?? []) {
      this.notificationsTopic.addSubscription(new subscriptions.EmailSubscription(address));
    }

    const notifier = fn('notifier', {
      description: 'certkeeper: turns failures, expiry warnings and alarms into alerts',
      timeout: Duration.seconds(30),
      memorySize: 256,
      // SNS invokes it asynchronously: an alert that still fails after Lambda's two retries
      // is kept here (and the dead-letters alarm fires) instead of being dropped.
      deadLetterQueue: props.deadLetterQueue,
      environment: {
        CERTKEEPER_NOTIFICATIONS_TOPIC_ARN: this.notificationsTopic.topicArn,
        CERTKEEPER_NOTIFY_TYPES: ALERT_EVENT_TYPES.join(','),
        ...(alerts.telegram
          ? {
              CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN: alerts.telegram.botTokenSecretArn,
              CERTKEEPER_TELEGRAM_CHAT_ID: alerts.telegram.chatId,
            }
          : {}),
        ...(alerts.slackWebhookSecretArn
          ? { CERTKEEPER_SLACK_WEBHOOK_SECRET_ARN: alerts.slackWebhookSecretArn }
          : {}),
        ...(alerts.webhookUrlSecretArn
          ? { CERTKEEPER_WEBHOOK_URL_SECRET_ARN: alerts.webhookUrlSecretArn }
          : {}),
      },
    });
    this.notifier = notifier;

    allow(notifier, ['sns:Publish'], [this.notificationsTopic.topicArn]);
    allow(notifier, ['kms:Decrypt', 'kms:GenerateDataKey'], [storage.key.keyArn]);
    const notifierSecrets = [
      alerts.telegram?.botTokenSecretArn,
      alerts.slackWebhookSecretArn,
      alerts.webhookUrlSecretArn,
    ].filter((arn): arn is string => arn !== undefined);
    if (notifierSecrets.length > 0) {
      allow(notifier, ['secretsmanager:GetSecretValue'], notifierSecrets.map(secretResource));
    }

    props.eventsTopic.addSubscription(
      new subscriptions.LambdaSubscription(notifier, {
        filterPolicy: {
          type: sns.SubscriptionFilter.stringFilter({ allowlist: [...ALERT_EVENT_TYPES] }),
        },
      }),
    );
    // Alarm notifications carry no message attributes, so this subscription has no filter.
    props.alarmsTopic.addSubscription(new subscriptions.LambdaSubscription(notifier));
  }
}
