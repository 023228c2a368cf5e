import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SNSEvent } from 'aws-lambda';
import { CertkeeperError } from '../shared/model/errors.js';
import { notify, type NotifyOutcome } from '../shared/notify/notify.js';
import { notifierRuntime } from './notifier-runtime.js';

/**
 * SNS (certificate events, CloudWatch alarms) -> a short message for people -> Telegram,
 * Slack, a JSON webhook and email, all at once.
 *
 * Environment (a target is on when its variables are set; at least one must be):
 *   CERTKEEPER_TELEGRAM_TOKEN_SECRET_ARN  Secrets Manager ARN of the bot token (plain text)
 *   CERTKEEPER_TELEGRAM_CHAT_ID           chat id or @channel; required with the token
 *   CERTKEEPER_TELEGRAM_API_URL           optional, default https://api.telegram.org
 *   CERTKEEPER_SLACK_WEBHOOK_SECRET_ARN   Secrets Manager ARN of the incoming-webhook URL
 *   CERTKEEPER_WEBHOOK_URL_SECRET_ARN     Secrets Manager ARN of a generic webhook's URL: POST {subject, text, severity, event}
 *   CERTKEEPER_NOTIFICATIONS_TOPIC_ARN    SNS topic with the email subscriptions
 *   CERTKEEPER_NOTIFY_TYPES               comma list of event types to forward; default
 *                                         certificate.renewal_failed,certificate.expiring,certificate.revoked
 *
 * Retries: SNS invokes this Lambda asynchronously, so a thrown error makes Lambda run the
 * event again (twice by default, then its on-failure destination). It throws only when no
 * target accepted a message: once one has, a retry would repeat the alert there, so the
 * other targets' failures are logged and counted (NotificationTargetFailures) instead. A
 * malformed message is logged and dropped, since a retry would fail the same way.
 */
const METRICS: Record<NotifyOutcome['status'], string> = {
  ignored: 'NotificationsIgnored',
  rejected: 'NotificationsRejected',
  delivered: 'NotificationsDelivered',
  undelivered: 'NotificationsUndelivered',
};

export const handler = async (event: SNSEvent): Promise<void> => {
  const rt = await notifierRuntime();
  const undelivered: string[] = [];
  for (const record of event.Records) {
    const messageId = record.Sns.MessageId;
    const outcome = await notify(rt, record.Sns.Message);
    if (outcome.status === 'rejected') {
      rt.log.error('message not forwarded', { messageId, error: outcome.error.describe() });
    } else {
      rt.log.info('notification', { messageId, ...outcome });
    }
    rt.metrics.addMetric(METRICS[outcome.status], MetricUnit.Count, 1);
    if ('failed' in outcome) {
      rt.metrics.addMetric('NotificationTargetFailures', MetricUnit.Count, outcome.failed.length);
    }
    if (outcome.status === 'undelivered') undelivered.push(messageId);
  }
  rt.metrics.publishStoredMetrics();
  if (undelivered.length > 0) {
    throw new CertkeeperError(
      'unreachable',
      `no notification target accepted SNS message ${undelivered.join(', ')}`,
      {
        retryable: true,
        fix: 'see the "notification target failed" log lines for each target\'s error and fix',
      },
    );
  }
};
