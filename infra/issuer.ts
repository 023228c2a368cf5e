/**
 * CertkeeperIssuer: the whole issuer, composed of the parts in infra/issuer/, each of
 * which a reader can take on its own:
 *
 * - storage.ts     the KMS key, the certificates bucket (and its access-log bucket), the table
 * - pipeline.ts    inventory-sync, scheduler, issuer queue and DLQ, issuer, events topic, rules
 * - notifier.ts    the notifier Lambda and the notifications topic
 * - agents.ts      the agents' CA, trust anchor, profile and role, the fleet table, the
 *                  identity and deliver functions: the same for 0 or 10,000 agents
 * - monitoring.ts  the fleet Lambda, the alarms topic, the alarms and the dashboard
 * - lambda.ts      one Lambda with its own role and log group; the grant helpers
 *
 * The parts make their resources in this construct's own scope, not in child constructs: a
 * logical ID is derived from the construct path, so a child would rename every resource
 * and a deployed stack would replace them.
 */
import { type CustomResource, Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { CaFallbackPolicy, CaSettings } from '../shared/model/cas.js';
import { DEFAULT_AGENT_IDENTITY_HOURS, type DeploymentConfig } from '../shared/config/deployment.js';
import type { CertificateSpec } from '../shared/model/spec.js';
import { IssuerAgents } from './issuer/agents.js';
import { createFunction, type FunctionFactory, type FunctionName } from './issuer/lambda.js';
import { type CertkeeperAlarms, IssuerMonitoring } from './issuer/monitoring.js';
import { IssuerNotifier } from './issuer/notifier.js';
import { IssuerPipeline } from './issuer/pipeline.js';
import { IssuerStorage } from './issuer/storage.js';

export { AGENT_NAME_TAG, AGENT_SESSION_SECONDS, IssuerAgents, PUBLISH_CRL_EVENT } from './issuer/agents.js';
export { FUNCTION_NAMES, type FunctionName, lambdaCodeFor, pascal } from './issuer/lambda.js';
export { type CertkeeperAlarms, METRICS_DIMENSIONS, METRICS_NAMESPACE } from './issuer/monitoring.js';
export { ALERT_EVENT_TYPES } from './issuer/notifier.js';
export { STATS_EVENT } from './issuer/pipeline.js';

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
   * The CAs in order of preference (`DeploymentConfig.cas`); when given, the first one
   * replaces `directoryUrl` and `ca`, and a renewal failing for a CA's own reasons moves on
   * to the next (`caFallback`).
   * @default - the one CA of `directoryUrl` and `ca`
   */
  readonly cas?: readonly CaSettings[];
  /** @default - after 2 of the CA's own failures, or 1 with under a fifth of the lifetime left */
  readonly caFallback?: CaFallbackPolicy;
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
   * Agents declared at deploy (more are added at run time with `certkeeper agent add`):
   * written to the registry like certificates; no resource is made per agent.
   * @default []
   */
  readonly agents?: DeploymentConfig['agents'];
  /**
   * The fleet view: a delivery target still on an older serial `lagMinutes` after the new
   * one was stored is behind (and alerted once); agents' client certificates last
   * `agentIdentityHours`.
   * @default { lagMinutes: 30, agentIdentityHours: 168 }
   */
  readonly fleet?: Partial<Pick<DeploymentConfig['fleet'], 'lagMinutes' | 'agentIdentityHours'>>;
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

/**
 * The whole issuer with secure defaults: a customer-managed KMS key encrypts the bucket,
 * table, queues and topics; every Lambda has its own role that names the actions, keys,
 * prefixes and zones it uses; nothing is public unless `http01PublicRead` says so, and then
 * only the challenge tokens.
 */
export class CertkeeperIssuer extends Construct {
  /** Encrypts the bucket (unless http01PublicRead), table, queues and topics; rotated yearly. */
  readonly key: kms.Key;
  /** Certificates, HTTP-01 tokens and ACME accounts (layout in shared/store/layout.ts). */
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
  /** The Lambdas (FUNCTION_NAMES), each with its own role (no managed policies) and log group. */
  readonly functions: Readonly<Record<FunctionName, lambda.Function>>;
  /** Runs the scheduler every `scheduleMinutes`. */
  readonly scheduleRule: events.Rule;
  /** Runs the scheduler hourly with `{"action":"stats"}` for the inventory metrics. */
  readonly statsRule: events.Rule;
  /** Writes the declared certificates to the inventory on every deploy. */
  readonly inventory: CustomResource;
  /** The agents' identity (CA, trust anchor, profile, role), their fleet table, enrolment and delivery. */
  readonly agents: IssuerAgents;
  readonly alarms: CertkeeperAlarms;
  /** Alarm states, renewals, ARI polls, least time to expiry, queue depth. */
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: CertkeeperIssuerProps) {
    super(scope, id);
    // Deliver access logs through a bucket policy rather than the LogDeliveryWrite ACL,
    // which BucketOwnerEnforced forbids; set here so the construct works in any app.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const scheduleMinutes = props.scheduleMinutes ?? 15;
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const fn: FunctionFactory = (name, options) =>
      createFunction(this, name, props.lambdaCode[name], logRetention, options);

    const storage = new IssuerStorage(this, {
      publicChallenges: props.http01PublicRead ?? false,
      retainSuperseded: props.retainSuperseded ?? Duration.days(30),
    });
    const pipeline = new IssuerPipeline(this, storage, fn, {
      directoryUrl: props.cas?.[0]?.directoryUrl ?? props.directoryUrl,
      ca: props.ca ?? {},
      cas: props.cas,
      caFallback: props.caFallback,
      hostedZones: props.hostedZones ?? [],
      certificates: props.certificates ?? [],
      agents: props.agents ?? [],
      scheduleMinutes,
      issuerConcurrency: props.issuerConcurrency ?? 2,
      issuerTimeout: props.issuerTimeout ?? Duration.minutes(5),
      logRetention,
    });
    const agents = new IssuerAgents(this, storage, pipeline, fn, {
      agentIdentityHours: props.fleet?.agentIdentityHours ?? DEFAULT_AGENT_IDENTITY_HOURS,
    });
    const monitoring = new IssuerMonitoring(this, storage, pipeline, agents, fn, {
      directoryUrl: props.cas?.[0]?.directoryUrl ?? props.directoryUrl,
      scheduleMinutes,
      lagMinutes: props.fleet?.lagMinutes ?? 30,
    });
    agents.publishCrlOn(pipeline.scheduleRule);
    const notifier = new IssuerNotifier(storage, fn, {
      alerts: props.alerts ?? {},
      eventsTopic: pipeline.eventsTopic,
      alarmsTopic: monitoring.alarmsTopic,
      deadLetterQueue: pipeline.deadLetterQueue,
    });

    this.key = storage.key;
    this.bucket = storage.bucket;
    this.accessLogsBucket = storage.accessLogsBucket;
    this.table = storage.table;
    this.queue = pipeline.queue;
    this.deadLetterQueue = pipeline.deadLetterQueue;
    this.eventsTopic = pipeline.eventsTopic;
    this.alarmsTopic = monitoring.alarmsTopic;
    this.notificationsTopic = notifier.notificationsTopic;
    this.scheduleRule = pipeline.scheduleRule;
    this.statsRule = pipeline.statsRule;
    this.inventory = pipeline.inventory;
    this.alarms = monitoring.alarms;
    this.dashboard = monitoring.dashboard;
    this.functions = {
      scheduler: pipeline.scheduler,
      issuer: pipeline.issuer,
      notifier: notifier.notifier,
      'inventory-sync': pipeline.inventorySync,
      fleet: monitoring.fleet,
      identity: agents.identity,
      deliver: agents.deliver,
    };
    this.agents = agents;
  }
}
