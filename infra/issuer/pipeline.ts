/**
 * The renewal pipeline: the declared certificates go into the inventory on deploy
 * (inventory-sync), the scheduler queues the due ones on every tick, the issuer renews one
 * per message and publishes the outcome on the events topic; what fails five times waits
 * in the dead-letter queue.
 */
import { gzipSync } from 'node:zlib';
import { CustomResource, Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { type CaFallbackPolicy, type CaSettings, defaultCaName } from '../../shared/model/cas.js';
import type { DeclaredAgent, DeploymentConfig } from '../../shared/config/deployment.js';
import type { CertificateSpec } from '../../shared/model/spec.js';
import {
  grantAcmImports,
  grantIssuerObjects,
  grantRetiredKeyDeletes,
  grantRoute53,
} from './issuer-access.js';
import { allow, type FunctionFactory, secretResource } from './lambda.js';
import type { IssuerStorage } from './storage.js';

/** Input the hourly rule sends the scheduler so it publishes inventory metrics instead of a tick. */
export const STATS_EVENT = { action: 'stats' } as const;

/**
 * DynamoDB, SQS and SNS use the key on the caller's behalf; these four cover reads and
 * writes of all three without the wildcard actions the CDK grants would add.
 */
const KEY_USE = ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'];

export interface IssuerPipelineProps {
  readonly directoryUrl: string;
  readonly ca: Partial<DeploymentConfig['ca']>;
  readonly cas: readonly CaSettings[] | undefined;
  readonly caFallback: CaFallbackPolicy | undefined;
  readonly hostedZones: DeploymentConfig['hostedZones'];
  readonly certificates: readonly CertificateSpec[];
  /** Agents declared in the config: written to the registry on deploy, like certificates. */
  readonly agents: readonly DeclaredAgent[];
  readonly scheduleMinutes: number;
  readonly issuerConcurrency: number;
  readonly issuerTimeout: Duration;
  readonly logRetention: logs.RetentionDays;
}

/**
 * Whether the CAs need the list variable: more than one, or one named otherwise than the
 * single-CA variables would name it (shared/model/runtime-config.ts casOf).
 */
const fallbackCas = (cas: readonly CaSettings[] | undefined): boolean =>
  cas !== undefined &&
  (cas.length > 1 || cas.some((ca) => ca.name !== defaultCaName(ca.directoryUrl) || ca.caaIdentities));

/** A CA as the issuer's environment names it: an inline HMAC key never reaches a template. */
function withoutInlineKey(ca: CaSettings): CaSettings {
  if (!ca.eab?.hmacKey) return ca;
  throw new Error(
    `cas "${ca.name}": eab.hmacKey is inline; give eab.hmacKeySecretArn (Secrets Manager) so the key stays out of the template`,
  );
}

/** Made in the CertkeeperIssuer's own scope, so every logical ID is the issuer's (see storage.ts). */
export class IssuerPipeline {
  /** Issuer messages that could not be handled five times (and alerts the notifier could not deliver). */
  readonly deadLetterQueue: sqs.Queue;
  /** One message per certificate to renew, from the scheduler to the issuer. */
  readonly queue: sqs.Queue;
  /** Certificate events (issued, renewed, renewal_failed, expiring, revoked). */
  readonly eventsTopic: sns.Topic;
  readonly scheduler: lambda.Function;
  readonly issuer: lambda.Function;
  readonly inventorySync: lambda.Function;
  /** Runs the scheduler every `scheduleMinutes` (the fleet Lambda joins it: monitoring.ts). */
  readonly scheduleRule: events.Rule;
  /** Runs the scheduler hourly with `{"action":"stats"}` for the inventory metrics. */
  readonly statsRule: events.Rule;
  /** Writes the declared certificates to the inventory on every deploy. */
  readonly inventory: CustomResource;
  /** The Provider framework's token for custom resources served by inventory-sync (the inventory, the agents' CA). */
  readonly inventoryServiceToken: string;

  constructor(
    private readonly scope: Construct,
    storage: IssuerStorage,
    fn: FunctionFactory,
    props: IssuerPipelineProps,
  ) {
    const { key, bucket, table } = storage;
    const { ca, certificates, issuerConcurrency, scheduleMinutes } = props;

    this.deadLetterQueue = new sqs.Queue(scope, 'IssuerDeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(scope, 'IssuerQueue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: key,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(props.issuerTimeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });
    this.eventsTopic = storage.topic('Events', 'certkeeper certificate events');

    // The issuer assumes these roles (granted in grantRoute53) for every call about their zones.
    const zoneRoles = Object.fromEntries(
      props.hostedZones.flatMap((z) => (z.roleArn ? [[z.id, z.roleArn]] : [])),
    );
    this.scheduler = fn('scheduler', {
      description: 'certkeeper: finds due certificates and queues them for the issuer',
      timeout: Duration.minutes(1),
      memorySize: 256,
      environment: {
        // The scheduler uses only the table and the queue; the shared runtime requires the
        // bucket and the directory to be named, but the scheduler gets no access to either.
        CERTKEEPER_TABLE: table.tableName,
        CERTKEEPER_QUEUE_URL: this.queue.queueUrl,
        CERTKEEPER_BUCKET: bucket.bucketName,
        CERTKEEPER_DIRECTORY_URL: props.directoryUrl,
      },
    });
    this.issuer = fn('issuer', {
      description: 'certkeeper: obtains or renews one certificate per queue message',
      timeout: props.issuerTimeout,
      // Measured by bench:cost: a batch of 5 peaks under 130 MiB and mostly waits (billed per MB).
      memorySize: 256,
      reservedConcurrentExecutions: issuerConcurrency,
      environment: {
        CERTKEEPER_BUCKET: bucket.bucketName,
        CERTKEEPER_TABLE: table.tableName,
        CERTKEEPER_TOPIC_ARN: this.eventsTopic.topicArn,
        CERTKEEPER_DIRECTORY_URL: props.directoryUrl,
        CERTKEEPER_KMS_KEY_ID: key.keyArn,
        ...(ca.contact ? { CERTKEEPER_CONTACT: ca.contact } : {}),
        // The HMAC key stays in Secrets Manager: only its ARN is in the function's configuration.
        ...(ca.eab
          ? { CERTKEEPER_EAB_KID: ca.eab.kid, CERTKEEPER_EAB_HMAC_SECRET_ARN: ca.eab.hmacKeySecretArn }
          : {}),
        // The CAs in order of preference, each with its contact, binding (a secret's ARN,
        // never the key) and CAA identities: shared/model/cas.ts.
        ...(fallbackCas(props.cas)
          ? {
              CERTKEEPER_CAS: JSON.stringify(props.cas!.map(withoutInlineKey)),
              ...(props.caFallback ? { CERTKEEPER_CA_FALLBACK: JSON.stringify(props.caFallback) } : {}),
            }
          : {}),
        ...(Object.keys(zoneRoles).length > 0 ? { CERTKEEPER_ZONE_ROLES: JSON.stringify(zoneRoles) } : {}),
      },
    });
    this.inventorySync = fn('inventory-sync', {
      description: 'certkeeper: writes the declared certificates to the inventory on deploy',
      timeout: Duration.minutes(2),
      memorySize: 256,
      // The bucket: the key kept for an unfinished order of a certificate it retires goes.
      environment: { CERTKEEPER_TABLE: table.tableName, CERTKEEPER_BUCKET: bucket.bucketName },
    });

    // ---- Least privilege -----------------------------------------------------------------
    const { scheduler, issuer, inventorySync } = this;
    allow(scheduler, ['dynamodb:Query'], [storage.dueIndexArn]);
    // PutItem: the heartbeat; Scan + GetItem: the hourly stats over the inventory.
    allow(scheduler, ['dynamodb:PutItem', 'dynamodb:Scan', 'dynamodb:GetItem'], [table.tableArn]);
    allow(scheduler, ['sqs:SendMessage', 'sqs:GetQueueAttributes'], [this.queue.queueArn]);
    allow(scheduler, KEY_USE, [key.keyArn]);

    // GetItem/UpdateItem: the lease, the claim, the state and its fenced write.
    allow(issuer, ['dynamodb:GetItem', 'dynamodb:UpdateItem'], [table.tableArn]);
    allow(issuer, KEY_USE, [key.keyArn]);
    allow(issuer, ['sns:Publish'], [this.eventsTopic.topicArn]);
    grantIssuerObjects(issuer, bucket);
    grantRoute53(issuer, props.hostedZones, certificates);
    grantAcmImports(scope, issuer, certificates);
    const eabSecrets = new Set([
      ...(ca.eab ? [ca.eab.hmacKeySecretArn] : []),
      ...(props.cas ?? []).flatMap((c) => (c.eab?.hmacKeySecretArn ? [c.eab.hmacKeySecretArn] : [])),
    ]);
    if (eabSecrets.size > 0) {
      allow(issuer, ['secretsmanager:GetSecretValue'], [...eabSecrets].map(secretResource));
    }

    // No DeleteItem: a certificate removed from the config is retired, never deleted.
    allow(inventorySync, ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Scan'], [table.tableArn]);
    allow(inventorySync, KEY_USE, [key.keyArn]);
    grantRetiredKeyDeletes(inventorySync, bucket);

    // ---- Wiring --------------------------------------------------------------------------
    issuer.addEventSource(
      new SqsEventSource(this.queue, {
        // Small batches: each message is a whole ACME order, and a batch shares one timeout.
        batchSize: 5,
        maxConcurrency: issuerConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    this.scheduleRule = new events.Rule(scope, 'Schedule', {
      description: `certkeeper: scheduler tick every ${scheduleMinutes} minutes`,
      schedule: events.Schedule.rate(Duration.minutes(scheduleMinutes)),
      targets: [new targets.LambdaFunction(scheduler, { retryAttempts: 2 })],
    });
    this.statsRule = new events.Rule(scope, 'StatsSchedule', {
      description: 'certkeeper: hourly certificate metrics (by status, least time to expiry)',
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [
        new targets.LambdaFunction(scheduler, {
          event: events.RuleTargetInput.fromObject(STATS_EVENT),
          retryAttempts: 2,
        }),
      ],
    });
    const provider = this.inventoryProvider(props.logRetention);
    this.inventoryServiceToken = provider.serviceToken;
    this.inventory = new CustomResource(scope, 'Inventory', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::CertkeeperInventory',
      // Any change to a declared certificate or agent changes these strings, so CloudFormation
      // updates the resource and the handler writes the specs and retires the ones that are gone.
      properties: {
        Certificates: JSON.stringify(certificates),
        // Compressed: ten thousand declared agents would otherwise fill most of CloudFormation's
        // 1 MB template; as gzip they take a few kilobytes (inventory-sync inflates them).
        ...(props.agents.length
          ? { AgentsGzip: gzipSync(JSON.stringify(props.agents), { level: 9 }).toString('base64') }
          : {}),
      },
    });
  }

  /** The Provider framework calls the inventory-sync Lambda on create and update. */
  private inventoryProvider(retention: logs.RetentionDays): Provider {
    const { scope, inventorySync: handler } = this;
    const logGroup = new logs.LogGroup(scope, 'InventorySyncProviderLogs', { retention });
    // Our own role, so the framework Lambda gets no AWS managed policy either.
    const role = new iam.Role(scope, 'InventorySyncProviderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'certkeeper inventory-sync custom resource provider',
    });
    logGroup.grantWrite(role);
    const provider = new Provider(scope, 'InventorySyncProvider', {
      onEventHandler: handler,
      logGroup,
      frameworkOnEventRole: role,
    });
    NagSuppressions.addResourceSuppressions(
      role,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'The CDK Provider framework may invoke any version of the inventory-sync function (<function arn>:*), and only that function.',
          appliesTo: [
            `Resource::<${Stack.of(scope).getLogicalId(handler.node.defaultChild as lambda.CfnFunction)}.Arn>:*`,
          ],
        },
      ],
      true,
    );
    return provider;
  }
}
