/**
 * Agent access: each server that pulls certificates (a configured agent) gets a queue of
 * its certificates' events and a managed policy to attach to its role: read its
 * certificates, the HTTP-01 tokens and the TLS-ALPN-01 validation certificates, write its own fleet report, read its queue.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { agentReportKey } from '../../shared/fleet/report.js';
import { certificatePrefix, HTTP01_PREFIX, TLSALPN01_PREFIX } from '../../shared/store/layout.js';
import { logicalIdOf, pascal } from './lambda.js';
import type { IssuerStorage } from './storage.js';

/** The resources one agent (a server that installs certificates) uses. */
export interface CertkeeperAgent {
  readonly name: string;
  /** Events of this agent's certificates only (raw delivery: SNS attributes become SQS attributes). */
  readonly queue: sqs.Queue;
  /** Read-only: its certificates, the HTTP-01 tokens and TLS-ALPN-01 validation certificates, its queue. Attach it to the server's role. */
  readonly policy: iam.ManagedPolicy;
}

/**
 * A server's queue (its certificates' events only) and its read-only managed policy, made
 * in the CertkeeperIssuer's own scope so their logical IDs are the issuer's (see storage.ts).
 */
export function agentAccess(
  scope: Construct,
  storage: IssuerStorage,
  eventsTopic: sns.ITopic,
  agent: { readonly name: string; readonly certificates: readonly string[] },
): CertkeeperAgent {
  const { name, certificates: certificateNames } = agent;
  const { bucket, key } = storage;
  const id = `Agent${pascal(name)}`;
  const queue = new sqs.Queue(scope, `${id}Queue`, {
    // SSE-SQS: the agent needs no KMS permission to read its queue.
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  NagSuppressions.addResourceSuppressions(queue, [
    {
      id: 'AwsSolutions-SQS3',
      reason:
        'The messages are reload hints: the agent reads current.json, not the message, and a message it cannot act on expires after 14 days; missed renewals show in the MinHoursToExpiry alarm.',
    },
  ]);
  eventsTopic.addSubscription(
    new subscriptions.SqsSubscription(queue, {
      rawMessageDelivery: true,
      filterPolicy: {
        certificate: sns.SubscriptionFilter.stringFilter({ allowlist: [...certificateNames] }),
      },
    }),
  );
  // The challenge prefixes hold nothing of a certificate being issued: tokens, and
  // validation certificates with keys made for the validation alone (RFC 8737 §3).
  const objectPatterns = [
    ...certificateNames.map((c) => `${certificatePrefix(c)}*`),
    `${HTTP01_PREFIX}*`,
    `${TLSALPN01_PREFIX}*`,
  ];
  const objectArns = objectPatterns.map((p) => bucket.arnForObjects(p));
  const policy = new iam.ManagedPolicy(scope, `${id}Policy`, {
    description: `certkeeper agent ${name}: read ${certificateNames.join(', ')} and its event queue`,
    statements: [
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: objectArns }),
      // Its own report for the fleet view, and no other object.
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(agentReportKey(name))],
      }),
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [key.keyArn],
        // Only for S3 objects: the key also protects the table, queue and topics.
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
      new iam.PolicyStatement({
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        resources: [queue.queueArn],
      }),
    ],
  });
  NagSuppressions.addResourceSuppressions(policy, [
    {
      id: 'AwsSolutions-IAM5',
      reason: `Object wildcards are limited to this agent's certificate prefixes (certificates/<name>/*), challenges/http-01/* and challenges/tls-alpn-01/*; serial numbers, tokens and validated names are not known at deploy time.`,
      appliesTo: objectPatterns.map((p) => `Resource::<${logicalIdOf(bucket)}.Arn>/${p}`),
    },
  ]);
  return { name, queue, policy };
}
