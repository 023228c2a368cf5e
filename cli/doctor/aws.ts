import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ListSubscriptionsByTopicCommand, type SNSClient } from '@aws-sdk/client-sns';
import { callAws } from '../../shared/aws/errors.js';
import type { Heartbeat } from '../../shared/heartbeat/heartbeat.js';
import { MINUTE } from '../../shared/model/clock.js';
import { wholeMinutes } from '../../shared/model/age.js';
import type { CheckSpec } from './check.js';

/** The scheduler ticks every 15 minutes; two missed ticks is more than a slow one. */
export const TICK_INTERVAL_MS = 15 * MINUTE;
export const HEARTBEAT_STALE_MS = 2 * TICK_INTERVAL_MS;

/**
 * HeadBucket says the bucket exists and we may touch it; ListObjectsV2 is the permission
 * the agent and `certificates` need on top (and without which a missing key reads as
 * AccessDenied). Errors go through callAws, which names the IAM action in the fix.
 */
export function bucketCheck(s3: S3Client, bucket: string): CheckSpec {
  return {
    id: 'bucket',
    timeoutFix: 'check the S3 endpoint and network access to it (VPC endpoint, proxy)',
    async run() {
      const ctx = { service: 'S3', resource: `s3://${bucket}`, client: s3 };
      await callAws({ ...ctx, operation: 'HeadBucket', permissions: ['s3:ListBucket'] }, () =>
        s3.send(new HeadBucketCommand({ Bucket: bucket })),
      );
      await callAws({ ...ctx, operation: 'ListObjectsV2', permissions: ['s3:ListBucket'] }, () =>
        s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 })),
      );
      return { status: 'ok', message: `s3://${bucket} is reachable and listable` };
    },
  };
}

export function tableCheck(dynamodb: DynamoDBClient, table: string): CheckSpec {
  return {
    id: 'table',
    timeoutFix: 'check the DynamoDB endpoint and network access to it',
    async run() {
      const out = await callAws(
        { service: 'DynamoDB', operation: 'DescribeTable', resource: `table ${table}`, client: dynamodb },
        () => dynamodb.send(new DescribeTableCommand({ TableName: table })),
      );
      const status = out.Table?.TableStatus ?? 'UNKNOWN';
      if (status !== 'ACTIVE' && status !== 'UPDATING') {
        return {
          status: 'fail',
          message: `table ${table} is ${status}`,
          fix: 'wait for the stack deployment to finish, or redeploy it',
        };
      }
      return { status: 'ok', message: `table ${table} is ${status.toLowerCase()}` };
    },
  };
}

/** The heartbeat the scheduler writes after each tick (the stack's alarm watches the same). */
export function heartbeatCheck(heartbeat: Heartbeat, now: () => Date = () => new Date()): CheckSpec {
  const fix =
    'check the scheduler Lambda: its EventBridge rule is enabled, and its recent invocations and errors in CloudWatch Logs';
  return {
    id: 'scheduler-heartbeat',
    timeoutFix: 'check the DynamoDB endpoint and network access to it',
    async run() {
      const tick = await heartbeat.last();
      if (!tick) {
        return { status: 'warn', message: 'the scheduler has never recorded a tick', fix };
      }
      const ageMs = now().getTime() - new Date(tick.at).getTime();
      const minutes = wholeMinutes(ageMs);
      if (ageMs > HEARTBEAT_STALE_MS) {
        return {
          status: 'warn',
          message: `the last scheduler tick was ${minutes} min ago (${tick.at}); ticks are due every ${TICK_INTERVAL_MS / MINUTE} min`,
          fix,
        };
      }
      return {
        status: 'ok',
        message: `last tick ${minutes} min ago: ${tick.checked} checked, ${tick.enqueued} enqueued`,
      };
    },
  };
}

/**
 * Servers learn of renewals only through the topic: with no confirmed subscription (the
 * agent's queue, a webhook) a renewed certificate sits in the bucket and the old one
 * expires on the servers.
 */
export function topicCheck(sns: SNSClient, topicArn: string | undefined): CheckSpec {
  return {
    id: 'events-topic',
    timeoutFix: 'check the SNS endpoint and network access to it',
    async run() {
      if (!topicArn) {
        return {
          status: 'warn',
          message: 'no events topic configured (CERTKEEPER_TOPIC_ARN / --topic-arn): events are only logged',
          fix: 'pass --topic-arn (or set CERTKEEPER_TOPIC_ARN) to the stack’s events topic',
        };
      }
      let confirmed = 0;
      let pending = 0;
      let token: string | undefined;
      do {
        const page = await callAws(
          { service: 'SNS', operation: 'ListSubscriptionsByTopic', resource: topicArn, client: sns },
          () => sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: token })),
        );
        for (const s of page.Subscriptions ?? []) {
          if (s.SubscriptionArn === 'PendingConfirmation') pending += 1;
          else confirmed += 1;
        }
        token = page.NextToken;
      } while (token);
      if (confirmed === 0) {
        const waiting = pending ? ` (${pending} awaiting confirmation)` : '';
        return {
          status: 'fail',
          message: `topic ${topicArn} has no confirmed subscribers${waiting}: no server will hear of renewals`,
          fix: 'subscribe each server’s agent queue to the topic (raw message delivery), or confirm the pending subscriptions',
        };
      }
      return { status: 'ok', message: `topic ${topicArn} has ${confirmed} subscriber(s)` };
    },
  };
}
