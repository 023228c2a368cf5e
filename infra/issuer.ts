import { Annotations, Aws, CustomResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { ATTRIBUTE_DEFINITIONS, DUE_INDEX, KEY_SCHEMA, TTL_ATTRIBUTE } from '../shared/dynamo/table.js';
import type { DeploymentConfig } from '../shared/model/config.js';
import { ACM_TAG_CERTIFICATE, ACM_TAG_SERIAL } from '../shared/model/delivery.js';
import type { EventType } from '../shared/events/event.js';
import type { CertificateSpec } from '../shared/model/spec.js';
import {
  ACCOUNTS_PREFIX,
  CERTIFICATES_PREFIX,
  HTTP01_PREFIX,
  RETENTION_CLASSES,
  RETENTION_TAG,
  SUPERSEDED_TAG,
  certificatePrefix,
} from '../shared/store/keys.js';
import { AGENTS_PREFIX, agentReportKey } from '../shared/fleet/report.js';
import { FLEET_STATUS_KEY } from '../shared/fleet/status.js';

/** The Lambdas of a deployment; each is bundled to `<name>/index.mjs` exporting `handler`. */
export const FUNCTION_NAMES = ['scheduler', 'issuer', 'notifier', 'inventory-sync', 'fleet'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** One Code per Lambda, e.g. `lambdaCodeFor((name) => Code.fromAsset(path.join(dir, name)))`. */
export function lambdaCodeFor(code: (name: FunctionName) => lambda.Code): Record<FunctionName, lambda.Code> {
  return {
    scheduler: code('scheduler'),
    issuer: code('issuer'),
    notifier: code('notifier'),
    'inventory-sync': code('inventory-sync'),
    fleet: code('fleet'),
  };
}

/**
 * Where the handlers publish their metrics: Powertools Metrics in functions/runtime.ts uses
 * this namespace and adds its `service` name as a dimension to every metric, so alarms must
 * name the same dimension or they watch a metric nobody writes.
 */
export const METRICS_NAMESPACE = 'certkeeper';
export const METRICS_DIMENSIONS = { service: 'certkeeper' } as const;

/** Events that someone should hear about; the rest (issued, renewed) are for agents. */
export const ALERT_EVENT_TYPES: readonly EventType[] = [
  'certificate.renewal_failed',
  'certificate.expiring',
  'certificate.revoked',
  'certificate.deployment_lagging',
  'certificate.deployment_recovered',
];

/** Key types ACM imports but CloudFront does not use. */
const CLOUDFRONT_REFUSES: readonly string[] = ['ecdsa-p384'];

/** Input the hourly rule sends the scheduler so it publishes inventory metrics instead of a tick. */
export const STATS_EVENT = { action: 'stats' } as const;

export interface CertkeeperIssuerProps {
  /**
   * The code of each Lambda: `lambda.Code.fromAsset(<bundle dir>)` in the app, anything
   * (e.g. `Code.fromInline`) in tests. Every bundle exports `handler` from `index`.
   */
  readonly lambdaCode: Readonly<Record<FunctionName, lambda.Code>>;
  /** The ACME directory URL (`DeploymentConfig.directoryUrl`, resolved from a well-known name). */
  readonly directoryUrl: string;
  /**
   * ACME account contact and external account binding. Only `contact` and `eab` are read.
   * @default - no contact, no external account binding
   */
  readonly ca?: Partial<DeploymentConfig['ca']>;
  /**
   * Route53 zones the issuer may write `_acme-challenge` TXT records to; zones named by a
   * certificate's `hostedZoneId` are added.
   * @default - none: no Route53 permission unless a certificate names its zone
   */
  readonly hostedZones?: DeploymentConfig['hostedZones'];
  /**
   * Minutes between scheduler ticks.
   * @default 15
   */
  readonly scheduleMinutes?: number;
  /**
   * Issuer Lambdas that may run at once (reserved concurrency and SQS maximum concurrency),
   * so a burst of renewals stays inside the CA's rate limits. At least 2 (an SQS limit).
   * @default 2
   */
  readonly issuerConcurrency?: number;
  /**
   * Where alerts go: email addresses subscribe to the notifications topic; Slack, Telegram
   * and a webhook are configured on the notifier.
   * @default - no alert channel (alarms and failures are still on the topics)
   */
  readonly alerts?: Partial<DeploymentConfig['alerts']>;
  /**
   * Let anyone read `challenges/http-01/*` from the bucket, for servers that proxy
   * `/.well-known/acme-challenge/` to S3. Everything else stays private and ACLs stay off.
   * @default false
   */
  readonly http01PublicRead?: boolean;
  /**
   * Servers that pull certificates: each gets a queue of the events for its certificates
   * and a read-only managed policy.
   * @default []
   */
  readonly agents?: DeploymentConfig['agents'];
  /**
   * The fleet view: a delivery target still on an older serial `lagMinutes` after the new
   * one was stored is behind (and alerted once).
   * @default { lagMinutes: 30 }
   */
  readonly fleet?: Partial<Pick<DeploymentConfig['fleet'], 'lagMinutes'>>;
  /**
   * The declared certificates, written to the inventory on every deploy; certificates no
   * longer listed are retired (kept, never deleted).
   * @default []
   */
  readonly certificates?: readonly CertificateSpec[];
  /**
   * The issuer Lambda's timeout; the queue's visibility timeout is six times this, as AWS
   * advises for SQS event sources, so a slow batch is not handed to a second worker.
   * @default Duration.minutes(5)
   */
  readonly issuerTimeout?: Duration;
  /**
   * How long the Lambdas' log groups keep their events.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * How long replaced object versions (an overwritten manifest, a deleted challenge) and
   * superseded serials are kept before S3 expires them.
   * @default Duration.days(30)
   */
  readonly retainSuperseded?: Duration;
}

/** The resources one agent (a server that installs certificates) uses. */
export interface CertkeeperAgent {
  readonly name: string;
  /** Events of this agent's certificates only (raw delivery: SNS attributes become SQS attributes). */
  readonly queue: sqs.Queue;
  /** Read-only: its certificates, the HTTP-01 tokens, its queue. Attach it to the server's role. */
  readonly policy: iam.ManagedPolicy;
}

/** The alarms the construct raises, all acting on `alarmsTopic`. */
export interface CertkeeperAlarms {
  /** Issuer messages that failed five times sit in the dead-letter queue. */
  readonly deadLetters: cloudwatch.Alarm;
  /** A certificate has less than a day left (the scheduler's hourly stats). */
  readonly expiringSoon: cloudwatch.Alarm;
  /** A certificate has failed 12 renewals in a row. */
  readonly certificatesFailing: cloudwatch.Alarm;
  /** The scheduler has not ticked for two intervals. */
  readonly schedulerHeartbeat: cloudwatch.Alarm;
  /** The issuer Lambda itself failed (not a renewal: those are recorded and retried). */
  readonly issuerErrors: cloudwatch.Alarm;
  /** A server, probed endpoint or ACM region is behind the current serial past the lag period. */
  readonly targetsBehind: cloudwatch.Alarm;
  /** An agent has not reported for three poll intervals, or a probed endpoint is unreachable. */
  readonly agentsSilent: cloudwatch.Alarm;
}

/**
 * The whole issuer with secure defaults: a customer-managed KMS key encrypts the bucket,
 * table, queues and topics; every Lambda has its own role that names the actions, keys,
 * prefixes and zones it uses; nothing is public unless `http01PublicRead` says so, and then
 * only the challenge tokens.
 */
export class CertkeeperIssuer extends Construct {
  /** Encrypts the bucket (unless http01PublicRead), table, queues and topics; rotated yearly. */
  readonly key: kms.Key;
  /** Certificates, HTTP-01 tokens and ACME accounts (layout in shared/store/keys.ts). */
  readonly bucket: s3.Bucket;
  /** Receives the bucket's S3 server access logs. */
  readonly accessLogsBucket: s3.Bucket;
  /** Inventory, leases and the due index (layout in shared/dynamo/table.ts). */
  readonly table: dynamodb.Table;
  /** One message per certificate to renew, from the scheduler to the issuer. */
  readonly queue: sqs.Queue;
  /** Issuer messages that could not be handled five times. */
  readonly deadLetterQueue: sqs.Queue;
  /** Certificate events (issued, renewed, renewal_failed, expiring, revoked). */
  readonly eventsTopic: sns.Topic;
  /** CloudWatch alarm actions. */
  readonly alarmsTopic: sns.Topic;
  /** Human-readable alerts from the notifier; the configured email addresses subscribe. */
  readonly notificationsTopic: sns.Topic;
  /** The four Lambdas, each with its own role (no managed policies) and log group. */
  readonly functions: Readonly<Record<FunctionName, lambda.Function>>;
  /** Runs the scheduler every `scheduleMinutes`. */
  readonly scheduleRule: events.Rule;
  /** Runs the scheduler hourly with `{"action":"stats"}` for the inventory metrics. */
  readonly statsRule: events.Rule;
  /** Writes the declared certificates to the inventory on every deploy. */
  readonly inventory: CustomResource;
  /** One per configured agent, in config order. */
  readonly agents: readonly CertkeeperAgent[];
  readonly alarms: CertkeeperAlarms;
  /** Alarm states, renewals, ARI polls, least time to expiry, queue depth. */
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: CertkeeperIssuerProps) {
    super(scope, id);
    // Deliver access logs through a bucket policy rather than the LogDeliveryWrite ACL,
    // which BucketOwnerEnforced forbids; set here so the construct works in any app.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const stack = Stack.of(this);
    const scheduleMinutes = props.scheduleMinutes ?? 15;
    const issuerConcurrency = props.issuerConcurrency ?? 2;
    const issuerTimeout = props.issuerTimeout ?? Duration.minutes(5);
    const retainSuperseded = props.retainSuperseded ?? Duration.days(30);
    const certificates = props.certificates ?? [];
    const publicChallenges = props.http01PublicRead ?? false;

    this.key = new kms.Key(this, 'Key', {
      description: 'certkeeper: certificates bucket, inventory table, queues and topics',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarm actions publish to the (encrypted) alarms topic as the service itself.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToEncryptedTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );

    // ---- Storage -------------------------------------------------------------------------
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      // S3 server access logging can only deliver to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(this.accessLogsBucket, [
      {
        id: 'AwsSolutions-S1',
        reason:
          'This bucket is the access-log destination of the certificates bucket; logging it would log the logs.',
      },
    ]);

    this.bucket = new s3.Bucket(this, 'Bucket', {
      // Anonymous readers cannot use KMS, so public challenge tokens need SSE-S3 by default;
      // private keys and ACME accounts are always written with SSE-KMS explicitly by the store.
      ...(publicChallenges
        ? { encryption: s3.BucketEncryption.S3_MANAGED }
        : { encryption: s3.BucketEncryption.KMS, encryptionKey: this.key, bucketKeyEnabled: true }),
      versioned: true,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      blockPublicAccess: publicChallenges
        ? new s3.BlockPublicAccess({
            blockPublicAcls: true,
            ignorePublicAcls: true,
            blockPublicPolicy: false,
            restrictPublicBuckets: false,
          })
        : s3.BlockPublicAccess.BLOCK_ALL,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'certificates-bucket/',
      lifecycleRules: [
        {
          id: 'expire-replaced-versions',
          noncurrentVersionExpiration: retainSuperseded,
          expiredObjectDeleteMarker: true,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          id: 'expire-superseded-serials',
          // Serials that earlier versions tagged when a newer one became current.
          tagFilters: { [SUPERSEDED_TAG]: 'true' },
          expiration: retainSuperseded,
        },
        // Each serial's files carry the lifetime class of their certificate from the write
        // (RETENTION_TAG): they expire that long plus the retention period after it, i.e.
        // weeks after the certificate itself has, replaced or not.
        ...RETENTION_CLASSES.map((days) => ({
          id: `expire-serials-${days}d`,
          tagFilters: { [RETENTION_TAG]: String(days) },
          expiration: Duration.days(days + retainSuperseded.toDays()),
        })),
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (publicChallenges) {
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'PublicReadHttp01ChallengesOnly',
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:GetObject'],
          resources: [this.bucket.arnForObjects(`${HTTP01_PREFIX}*`)],
        }),
      );
      NagSuppressions.addResourceSuppressions(this.bucket, [
        {
          id: 'AwsSolutions-S2',
          reason:
            'http01PublicRead: the bucket policy lets anyone GET challenges/http-01/* (ACME key authorizations, public by design); ACLs stay blocked and no other prefix is readable.',
        },
      ]);
    }

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: attribute(keyAttribute(KEY_SCHEMA, 'HASH')),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TTL_ATTRIBUTE,
      deletionProtection: true,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: DUE_INDEX.IndexName!,
      partitionKey: attribute(keyAttribute(DUE_INDEX.KeySchema, 'HASH')),
      sortKey: attribute(keyAttribute(DUE_INDEX.KeySchema, 'RANGE')),
      projectionType: DUE_INDEX.Projection?.ProjectionType as dynamodb.ProjectionType,
    });

    // ---- Queue and topics ----------------------------------------------------------------
    this.deadLetterQueue = new sqs.Queue(this, 'IssuerDeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'IssuerQueue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: this.key,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(issuerTimeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 5 },
    });

    const topic = (topicId: string, displayName: string): sns.Topic =>
      new sns.Topic(this, topicId, { displayName, masterKey: this.key, enforceSSL: true });
    this.eventsTopic = topic('Events', 'certkeeper certificate events');
    this.alarmsTopic = topic('Alarms', 'certkeeper alarms');
    this.notificationsTopic = topic('Notifications', 'certkeeper notifications');
    // A topic policy replaces SNS's default one, which is what lets CloudWatch publish; say
    // so explicitly, for this account's alarms only.
    this.alarmsTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmsTopic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${stack.region}:${stack.account}:alarm:*`,
          },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    );
    for (const address of props.alerts?.email ?? []) {
      this.notificationsTopic.addSubscription(new subscriptions.EmailSubscription(address));
    }

    // ---- Functions -----------------------------------------------------------------------
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const fn = (name: FunctionName, options: FunctionOptions): lambda.Function =>
      this.lambdaFunction(name, props.lambdaCode[name], logRetention, options);
    const ca = props.ca ?? {};
    const alerts = props.alerts ?? {};
    // The issuer assumes these roles (granted in grantRoute53) for every call about their zones.
    const zoneRoles = Object.fromEntries(
      (props.hostedZones ?? []).flatMap((z) => (z.roleArn ? [[z.id, z.roleArn]] : [])),
    );

    const scheduler = fn('scheduler', {
      description: 'certkeeper: finds due certificates and queues them for the issuer',
      timeout: Duration.minutes(1),
      memorySize: 256,
      environment: {
        // The scheduler uses only the table and the queue; the shared runtime requires the
        // bucket and the directory to be named, but the scheduler gets no access to either.
        CERTKEEPER_TABLE: this.table.tableName,
        CERTKEEPER_QUEUE_URL: this.queue.queueUrl,
        CERTKEEPER_BUCKET: this.bucket.bucketName,
        CERTKEEPER_DIRECTORY_URL: props.directoryUrl,
      },
    });
    const issuer = fn('issuer', {
      description: 'certkeeper: obtains or renews one certificate per queue message',
      timeout: issuerTimeout,
      // Measured by bench:cost: a batch of 5 peaks under 130 MiB and mostly waits (billed per MB).
      memorySize: 256,
      reservedConcurrentExecutions: issuerConcurrency,
      environment: {
        CERTKEEPER_BUCKET: this.bucket.bucketName,
        CERTKEEPER_TABLE: this.table.tableName,
        CERTKEEPER_TOPIC_ARN: this.eventsTopic.topicArn,
        CERTKEEPER_DIRECTORY_URL: props.directoryUrl,
        CERTKEEPER_KMS_KEY_ID: this.key.keyArn,
        ...(ca.contact ? { CERTKEEPER_CONTACT: ca.contact } : {}),
        // The HMAC key stays in Secrets Manager: only its ARN is in the function's configuration.
        ...(ca.eab
          ? { CERTKEEPER_EAB_KID: ca.eab.kid, CERTKEEPER_EAB_HMAC_SECRET_ARN: ca.eab.hmacKeySecretArn }
          : {}),
        ...(Object.keys(zoneRoles).length > 0 ? { CERTKEEPER_ZONE_ROLES: JSON.stringify(zoneRoles) } : {}),
      },
    });
    const notifier = fn('notifier', {
      description: 'certkeeper: turns failures, expiry warnings and alarms into alerts',
      timeout: Duration.seconds(30),
      memorySize: 256,
      // SNS invokes it asynchronously: an alert that still fails after Lambda's two retries
      // is kept here (and the dead-letters alarm fires) instead of being dropped.
      deadLetterQueue: this.deadLetterQueue,
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
        ...(alerts.webhookUrl ? { CERTKEEPER_WEBHOOK_URL: alerts.webhookUrl } : {}),
      },
    });
    const inventorySync = fn('inventory-sync', {
      description: 'certkeeper: writes the declared certificates to the inventory on deploy',
      timeout: Duration.minutes(2),
      memorySize: 256,
      environment: { CERTKEEPER_TABLE: this.table.tableName },
    });
    const fleet = fn('fleet', {
      description:
        'certkeeper: compares what each server, endpoint and ACM region has with the current serial',
      timeout: Duration.minutes(2),
      memorySize: 256,
      // One tick at a time: each compares with the view the previous one saved.
      reservedConcurrentExecutions: 1,
      environment: {
        CERTKEEPER_TABLE: this.table.tableName,
        CERTKEEPER_BUCKET: this.bucket.bucketName,
        CERTKEEPER_TOPIC_ARN: this.eventsTopic.topicArn,
        CERTKEEPER_DIRECTORY_URL: props.directoryUrl,
        CERTKEEPER_FLEET_LAG_MINUTES: String(props.fleet?.lagMinutes ?? 30),
      },
    });
    this.functions = { scheduler, issuer, notifier, 'inventory-sync': inventorySync, fleet };

    // ---- Least privilege -----------------------------------------------------------------
    const tableArn = this.table.tableArn;
    const dueIndexArn = `${tableArn}/index/${DUE_INDEX.IndexName}`;
    // DynamoDB, SQS and SNS use the key on the caller's behalf; these four cover reads and
    // writes of all three without the wildcard actions the CDK grants would add.
    const keyUse = ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'];

    allow(scheduler, ['dynamodb:Query'], [dueIndexArn]);
    // PutItem: the heartbeat; Scan + GetItem: the hourly stats over the inventory.
    allow(scheduler, ['dynamodb:PutItem', 'dynamodb:Scan', 'dynamodb:GetItem'], [tableArn]);
    allow(scheduler, ['sqs:SendMessage', 'sqs:GetQueueAttributes'], [this.queue.queueArn]);
    allow(scheduler, keyUse, [this.key.keyArn]);

    // GetItem/UpdateItem/ConditionCheckItem: the lease, the state and its fenced write.
    allow(issuer, ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem'], [tableArn]);
    allow(issuer, keyUse, [this.key.keyArn]);
    allow(issuer, ['sns:Publish'], [this.eventsTopic.topicArn]);
    this.grantIssuerObjects(issuer);
    this.grantRoute53(issuer, props.hostedZones ?? [], certificates);
    this.grantAcmImports(issuer, certificates);
    if (ca.eab) allow(issuer, ['secretsmanager:GetSecretValue'], [secretResource(ca.eab.hmacKeySecretArn)]);

    allow(notifier, ['sns:Publish'], [this.notificationsTopic.topicArn]);
    allow(notifier, ['kms:Decrypt', 'kms:GenerateDataKey'], [this.key.keyArn]);
    const notifierSecrets = [alerts.telegram?.botTokenSecretArn, alerts.slackWebhookSecretArn].filter(
      (arn): arn is string => arn !== undefined,
    );
    if (notifierSecrets.length > 0) {
      allow(notifier, ['secretsmanager:GetSecretValue'], notifierSecrets.map(secretResource));
    }

    // The fleet view: the inventory (Scan), the agents' reports, its own status object, events.
    allow(fleet, ['dynamodb:Scan', 'dynamodb:GetItem'], [tableArn]);
    allow(fleet, ['kms:Decrypt', 'kms:GenerateDataKey'], [this.key.keyArn]);
    allow(fleet, ['sns:Publish'], [this.eventsTopic.topicArn]);
    allow(
      fleet,
      ['s3:GetObject'],
      [this.bucket.arnForObjects(`${AGENTS_PREFIX}*`), this.bucket.arnForObjects(FLEET_STATUS_KEY)],
    );
    allow(fleet, ['s3:PutObject'], [this.bucket.arnForObjects(FLEET_STATUS_KEY)]);
    // Unconditioned, as for the issuer: without it the first tick's read of the missing
    // status object answers 403 instead of 404. Listing shows key names, never contents.
    allow(fleet, ['s3:ListBucket'], [this.bucket.bucketArn]);
    NagSuppressions.addResourceSuppressions(
      fleet.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'The fleet Lambda reads every agent report (agents/<agent>/report.json); agent names are many and may change without a redeploy of this policy.',
          appliesTo: [`Resource::<${this.logicalIdOf(this.bucket)}.Arn>/${AGENTS_PREFIX}*`],
        },
      ],
      true,
    );

    // No DeleteItem: a certificate removed from the config is retired, never deleted.
    allow(inventorySync, ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Scan'], [tableArn]);
    allow(inventorySync, keyUse, [this.key.keyArn]);

    // ---- Wiring --------------------------------------------------------------------------
    issuer.addEventSource(
      new SqsEventSource(this.queue, {
        // Small batches: each message is a whole ACME order, and a batch shares one timeout.
        batchSize: 5,
        maxConcurrency: issuerConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    this.scheduleRule = new events.Rule(this, 'Schedule', {
      description: `certkeeper: scheduler tick every ${scheduleMinutes} minutes`,
      schedule: events.Schedule.rate(Duration.minutes(scheduleMinutes)),
      // The fleet view is evaluated on the same tick, by its own Lambda.
      targets: [
        new targets.LambdaFunction(scheduler, { retryAttempts: 2 }),
        new targets.LambdaFunction(fleet, { retryAttempts: 0 }),
      ],
    });
    this.statsRule = new events.Rule(this, 'StatsSchedule', {
      description: 'certkeeper: hourly certificate metrics (by status, least time to expiry)',
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [
        new targets.LambdaFunction(scheduler, {
          event: events.RuleTargetInput.fromObject(STATS_EVENT),
          retryAttempts: 2,
        }),
      ],
    });

    this.eventsTopic.addSubscription(
      new subscriptions.LambdaSubscription(notifier, {
        filterPolicy: {
          type: sns.SubscriptionFilter.stringFilter({ allowlist: [...ALERT_EVENT_TYPES] }),
        },
      }),
    );
    // Alarm notifications carry no message attributes, so this subscription has no filter.
    this.alarmsTopic.addSubscription(new subscriptions.LambdaSubscription(notifier));

    this.inventory = this.inventorySync(inventorySync, certificates, logRetention);
    this.agents = (props.agents ?? []).map((agent) => this.agent(agent.name, agent.certificates));
    this.alarms = this.createAlarms(scheduleMinutes);
    this.dashboard = this.createDashboard();
  }

  /** One function with its own role and log group; the role starts empty (no managed policies). */
  private lambdaFunction(
    name: FunctionName,
    code: lambda.Code,
    retention: logs.RetentionDays,
    options: FunctionOptions,
  ): lambda.Function {
    const id = pascal(name);
    const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention });
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `certkeeper ${name} Lambda`,
    });
    logGroup.grantWrite(role);
    const fn = new lambda.Function(this, id, {
      ...options,
      code,
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
    });
    NagSuppressions.addResourceSuppressions(fn, [
      {
        id: 'AwsSolutions-L1',
        reason:
          'Pinned to nodejs22.x on purpose: scripts/build.ts bundles for Node 22 and the tests run on it; the runtime moves together with the build target.',
      },
    ]);
    return fn;
  }

  /**
   * Objects by prefix: read and write certificates and accounts, and HTTP-01 tokens, which
   * are also the only objects the issuer may delete (serials and keys are never deleted).
   */
  private grantIssuerObjects(issuer: lambda.Function): void {
    const prefixes = [CERTIFICATES_PREFIX, HTTP01_PREFIX, ACCOUNTS_PREFIX].map((p) => `${p}*`);
    allow(
      issuer,
      ['s3:GetObject', 's3:PutObject'],
      prefixes.map((p) => this.bucket.arnForObjects(p)),
    );
    allow(issuer, ['s3:DeleteObject'], [this.bucket.arnForObjects(`${HTTP01_PREFIX}*`)]);
    // The serial files are written with their retention tag (RETENTION_TAG), which S3
    // authorises as tagging.
    allow(issuer, ['s3:PutObjectTagging'], [this.bucket.arnForObjects(`${CERTIFICATES_PREFIX}*`)]);
    // Listing a certificate's serials; also what makes a missing key read as 404, not 403.
    // Unconditioned on purpose: S3 decides 404-vs-403 for a GetObject of a missing key by
    // the ListBucket grant, and a prefix condition (which a GetObject carries no value for)
    // would turn a first issuance's "no account yet" / "no manifest yet" into AccessDenied.
    allow(issuer, ['s3:ListBucket'], [this.bucket.bucketArn]);
    const reason =
      'Object wildcards are limited to the certkeeper prefixes (certificates/*, challenges/http-01/*, accounts/*); object keys are not known at deploy time.';
    NagSuppressions.addResourceSuppressions(
      issuer.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason,
          appliesTo: prefixes.map((p) => `Resource::<${this.logicalIdOf(this.bucket)}.Arn>/${p}`),
        },
      ],
      true,
    );
  }

  /**
   * DNS-01: change only TXT records named `_acme-challenge.*` in the configured zones; read
   * the zones; list zones (longest-suffix lookup) and poll changes, which IAM only grants on
   * `*` and `change/*`; assume only the configured cross-account zone roles.
   */
  private grantRoute53(
    issuer: lambda.Function,
    hostedZones: DeploymentConfig['hostedZones'],
    certificates: readonly CertificateSpec[],
  ): void {
    const zoneIds = [
      ...new Set([
        ...hostedZones.map((z) => z.id),
        ...certificates.flatMap((c) => (c.hostedZoneId ? [c.hostedZoneId] : [])),
      ]),
    ];
    const roleArns = [...new Set(hostedZones.flatMap((z) => (z.roleArn ? [z.roleArn] : [])))];
    if (zoneIds.length === 0) return;
    const zoneArns = zoneIds.map((id) => `arn:${Aws.PARTITION}:route53:::hostedzone/${id}`);
    allow(issuer, ['route53:ChangeResourceRecordSets'], zoneArns, {
      'ForAllValues:StringLike': {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': ['_acme-challenge.*'],
      },
      'ForAllValues:StringEquals': {
        'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
        'route53:ChangeResourceRecordSetsActions': ['CREATE', 'UPSERT', 'DELETE'],
      },
    });
    allow(issuer, ['route53:ListResourceRecordSets', 'route53:GetHostedZone'], zoneArns);
    allow(issuer, ['route53:ListHostedZones'], ['*']);
    allow(issuer, ['route53:GetChange'], [`arn:${Aws.PARTITION}:route53:::change/*`]);
    if (roleArns.length > 0) allow(issuer, ['sts:AssumeRole'], roleArns);
    NagSuppressions.addResourceSuppressions(
      issuer.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'route53:ListHostedZones supports no resource (IAM requires "*"); route53:GetChange takes change IDs that exist only after each change, so it is limited to change/*.',
          appliesTo: ['Resource::*', 'Resource::arn:<AWS::Partition>:route53:::change/*'],
        },
      ],
      true,
    );
  }

  /**
   * ACM delivery: import and tag only in the regions certificates declare, and only
   * certificates tagged `certkeeper:certificate` with a declared name. A first import must
   * carry that tag (aws:RequestTag; tagging on create is authorised as AddTagsToCertificate
   * too) onto a certificate not yet tagged by any certkeeper; a re-import, and the re-tag
   * that follows it, act only on a certificate already carrying it (aws:ResourceTag). Only
   * certkeeper's two tag keys may be set (aws:TagKeys). No grant when no certificate
   * declares acmRegions.
   */
  private grantAcmImports(issuer: lambda.Function, certificates: readonly CertificateSpec[]): void {
    const importing = certificates.filter((c) => (c.delivery?.acmRegions.length ?? 0) > 0);
    if (importing.length === 0) return;
    // CloudFront (which reads ACM in us-east-1 only) takes RSA 1024-4096 and ECDSA P-256
    // (ACM's import prerequisites); ALB takes every key ACM imports. A warning, not an
    // error: the certificate may be meant for an ALB in us-east-1.
    for (const c of importing) {
      if (CLOUDFRONT_REFUSES.includes(c.keyType) && c.delivery!.acmRegions.includes('us-east-1')) {
        Annotations.of(this).addWarningV2(
          'certkeeper:acm-cloudfront-key',
          `certificate "${c.name}" (${c.keyType}) is imported into ACM in us-east-1, but CloudFront uses only RSA and ECDSA P-256 certificates (ALB accepts it). Use keyType ecdsa-p256 or an RSA key type if CloudFront is to serve it.`,
        );
      }
    }
    const regions = [...new Set(importing.flatMap((c) => c.delivery!.acmRegions))].sort();
    const names = importing.map((c) => c.name).sort();
    // IAM allows 10,240 characters of inline policy per role: past a few dozen names, any
    // certkeeper-tagged certificate in the declared regions, rather than each by name.
    const tagIs = (key: string): Record<string, Record<string, unknown>> =>
      names.join('').length <= 2000 ? { StringEquals: { [key]: names } } : { StringLike: { [key]: '?*' } };
    const arns = regions.map((r) => `arn:${Aws.PARTITION}:acm:${r}:${Aws.ACCOUNT_ID}:certificate/*`);
    const actions = ['acm:ImportCertificate', 'acm:AddTagsToCertificate'];
    const onlyOurKeys = {
      'ForAllValues:StringEquals': { 'aws:TagKeys': [ACM_TAG_CERTIFICATE, ACM_TAG_SERIAL] },
    };
    allow(issuer, actions, arns, {
      ...tagIs(`aws:RequestTag/${ACM_TAG_CERTIFICATE}`),
      Null: { [`aws:ResourceTag/${ACM_TAG_CERTIFICATE}`]: 'true' },
      ...onlyOurKeys,
    });
    allow(issuer, actions, arns, { ...tagIs(`aws:ResourceTag/${ACM_TAG_CERTIFICATE}`), ...onlyOurKeys });
    NagSuppressions.addResourceSuppressions(
      issuer.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ACM assigns certificate IDs at the first import, so certificates are matched by region and by the certkeeper:certificate tag (request tag on the first import, resource tag after), not by ID.',
          appliesTo: regions.map(
            (r) => `Resource::arn:<AWS::Partition>:acm:${r}:<AWS::AccountId>:certificate/*`,
          ),
        },
      ],
      true,
    );
  }

  /** The Provider framework calls the inventory-sync Lambda on create and update. */
  private inventorySync(
    handler: lambda.Function,
    certificates: readonly CertificateSpec[],
    retention: logs.RetentionDays,
  ): CustomResource {
    const logGroup = new logs.LogGroup(this, 'InventorySyncProviderLogs', { retention });
    // Our own role, so the framework Lambda gets no AWS managed policy either.
    const role = new iam.Role(this, 'InventorySyncProviderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'certkeeper inventory-sync custom resource provider',
    });
    logGroup.grantWrite(role);
    const provider = new Provider(this, 'InventorySyncProvider', {
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
            `Resource::<${Stack.of(this).getLogicalId(handler.node.defaultChild as lambda.CfnFunction)}.Arn>:*`,
          ],
        },
      ],
      true,
    );
    return new CustomResource(this, 'Inventory', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::CertkeeperInventory',
      // Any change to a declared certificate changes this string, so CloudFormation updates
      // the resource and the handler writes the specs and retires the ones that are gone.
      properties: { Certificates: JSON.stringify(certificates) },
    });
  }

  /** A server's queue (its certificates' events only) and its read-only managed policy. */
  private agent(name: string, certificateNames: readonly string[]): CertkeeperAgent {
    const id = `Agent${pascal(name)}`;
    const queue = new sqs.Queue(this, `${id}Queue`, {
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
    this.eventsTopic.addSubscription(
      new subscriptions.SqsSubscription(queue, {
        rawMessageDelivery: true,
        filterPolicy: {
          certificate: sns.SubscriptionFilter.stringFilter({ allowlist: [...certificateNames] }),
        },
      }),
    );
    const objectArns = [
      ...certificateNames.map((c) => this.bucket.arnForObjects(`${certificatePrefix(c)}*`)),
      this.bucket.arnForObjects(`${HTTP01_PREFIX}*`),
    ];
    const policy = new iam.ManagedPolicy(this, `${id}Policy`, {
      description: `certkeeper agent ${name}: read ${certificateNames.join(', ')} and its event queue`,
      statements: [
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: objectArns }),
        // Its own report for the fleet view, and no other object.
        new iam.PolicyStatement({
          actions: ['s3:PutObject'],
          resources: [this.bucket.arnForObjects(agentReportKey(name))],
        }),
        new iam.PolicyStatement({
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [this.key.keyArn],
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
        reason: `Object wildcards are limited to this agent's certificate prefixes (certificates/<name>/*) and challenges/http-01/*; serial numbers are not known at deploy time.`,
        appliesTo: objectArns.map(
          (_, i) =>
            `Resource::<${this.logicalIdOf(this.bucket)}.Arn>/${
              i < certificateNames.length
                ? `${certificatePrefix(certificateNames[i]!)}*`
                : `${HTTP01_PREFIX}*`
            }`,
        ),
      },
    ]);
    return { name, queue, policy };
  }

  private createAlarms(scheduleMinutes: number): CertkeeperAlarms {
    const metric = (metricName: string, statistic: string, period: Duration): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { ...METRICS_DIMENSIONS },
        statistic,
        period,
      });
    const alarm = (id: string, props: Omit<cloudwatch.AlarmProps, 'evaluationPeriods'>): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, id, { evaluationPeriods: 1, ...props });
      created.addAlarmAction(new SnsAction(this.alarmsTopic));
      return created;
    };
    return {
      deadLetters: alarm('DeadLettersAlarm', {
        alarmDescription: 'certkeeper: issuer messages were dead-lettered (could not be handled 5 times)',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          period: Duration.minutes(5),
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      expiringSoon: alarm('ExpiringSoonAlarm', {
        alarmDescription: 'certkeeper: a certificate expires in less than 24 hours',
        metric: metric('MinHoursToExpiry', 'Minimum', Duration.hours(1)),
        threshold: 24,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        // No data: no certificates yet, or no stats run; the heartbeat alarm covers the latter.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      certificatesFailing: alarm('CertificatesFailingAlarm', {
        alarmDescription: 'certkeeper: a certificate has failed 12 renewals in a row',
        metric: metric('CertificatesFailing', 'Maximum', Duration.hours(1)),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      schedulerHeartbeat: alarm('SchedulerHeartbeatAlarm', {
        alarmDescription: `certkeeper: the scheduler has not ticked for ${2 * scheduleMinutes} minutes`,
        metric: metric('SchedulerTicks', 'Sum', Duration.minutes(2 * scheduleMinutes)),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        // A scheduler that does not run publishes nothing: silence is the failure.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
      issuerErrors: alarm('IssuerErrorsAlarm', {
        alarmDescription:
          'certkeeper: the issuer Lambda failed (crash or timeout, not a recorded renewal failure)',
        metric: this.functions.issuer.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      // The per-target lagging/recovered events name the server; these alarms are the
      // CloudWatch side of the same rule, evaluated by the fleet Lambda on every tick.
      targetsBehind: alarm('FleetBehindAlarm', {
        alarmDescription:
          'certkeeper: a server, probed endpoint or ACM region is still on an older certificate after the lag period; run `certkeeper status`',
        metric: metric('TargetsBehind', 'Maximum', Duration.minutes(scheduleMinutes)),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      agentsSilent: alarm('FleetSilentAlarm', {
        alarmDescription:
          'certkeeper: an agent has not reported for three poll intervals, or a probed endpoint is unreachable; run `certkeeper status`',
        metric: new cloudwatch.MathExpression({
          expression: 'silent + unreachable',
          usingMetrics: {
            silent: metric('AgentsSilent', 'Maximum', Duration.minutes(scheduleMinutes)),
            unreachable: metric('TargetsUnreachable', 'Maximum', Duration.minutes(scheduleMinutes)),
          },
          period: Duration.minutes(scheduleMinutes),
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    };
  }

  private createDashboard(): cloudwatch.Dashboard {
    const metric = (metricName: string, statistic: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { ...METRICS_DIMENSIONS },
        statistic,
        period: Duration.hours(1),
      });
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(7),
    });
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: Object.values(this.alarms),
        width: 24,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Renewals',
        left: [metric('RenewalsOk', 'Sum'), metric('RenewalsFailed', 'Sum'), metric('AriPolls', 'Sum')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Least time to expiry (hours)',
        left: [metric('MinHoursToExpiry', 'Minimum')],
        leftAnnotations: [{ value: 24, label: 'alarm', color: cloudwatch.Color.RED }],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Fleet: delivery targets behind, silent, unreachable, expiring',
        left: [
          metric('TargetsBehind', 'Maximum'),
          metric('AgentsSilent', 'Maximum'),
          metric('TargetsUnreachable', 'Maximum'),
          metric('TargetsExpiring', 'Maximum'),
        ],
        right: [metric('AgentReportsIgnored', 'Sum')],
        width: 24,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Certificates failing',
        left: [metric('CertificatesFailing', 'Maximum')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Scheduler ticks',
        left: [metric('SchedulerTicks', 'Sum')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Issuer queue and dead letters',
        left: [
          this.queue.metricApproximateNumberOfMessagesVisible(),
          this.deadLetterQueue.metricApproximateNumberOfMessagesVisible(),
        ],
        right: [this.functions.issuer.metricErrors()],
        width: 8,
      }),
    );
    return dashboard;
  }

  /** How cdk-nag writes a resource's Fn::GetAtt in `appliesTo` (its logical ID). */
  private logicalIdOf(bucket: s3.Bucket): string {
    return Stack.of(this).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
  }
}

interface FunctionOptions {
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
  readonly reservedConcurrentExecutions?: number;
  readonly deadLetterQueue?: sqs.IQueue;
}

function allow(
  fn: lambda.Function,
  actions: string[],
  resources: string[],
  conditions?: Record<string, Record<string, unknown>>,
): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources, conditions }));
}

/**
 * IAM matches a secret by its full ARN, which ends in "-" and six random characters; a
 * partial ARN (without them) is widened by exactly those six characters.
 */
function secretResource(arn: string): string {
  return /-[A-Za-z0-9]{6}$/.test(arn) ? arn : `${arn}-??????`;
}

function keyAttribute(
  schema: { AttributeName?: string; KeyType?: string }[] | undefined,
  type: string,
): string {
  const name = schema?.find((k) => k.KeyType === type)?.AttributeName;
  if (!name) throw new Error(`shared/dynamo/table.ts declares no ${type} key`);
  return name;
}

/** A key attribute with the type shared/dynamo/table.ts declares for it. */
function attribute(name: string): dynamodb.Attribute {
  const declared = ATTRIBUTE_DEFINITIONS.find((a) => a.AttributeName === name)?.AttributeType;
  const types: Record<string, dynamodb.AttributeType> = {
    S: dynamodb.AttributeType.STRING,
    N: dynamodb.AttributeType.NUMBER,
    B: dynamodb.AttributeType.BINARY,
  };
  const type = declared ? types[declared] : undefined;
  if (!type) throw new Error(`shared/dynamo/table.ts declares no type for ${name}`);
  return { name, type };
}

/** "inventory-sync" -> "InventorySync", for construct IDs and output names. */
export function pascal(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}
