/**
 * Watching the deployment: the fleet Lambda (is every server, probed endpoint and ACM
 * region on the current serial?), the alarms on the metrics the Lambdas publish and on the
 * queues, the alarms topic they act on, and the dashboard.
 */
import { Aws, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { AGENTS_PREFIX } from '../../shared/fleet/report.js';
import { FLEET_STATUS_KEY } from '../../shared/fleet/status.js';
import { allow, type FunctionFactory, logicalIdOf } from './lambda.js';
import { INBOX_ITEMS, type IssuerAgents } from './agents.js';
import type { IssuerPipeline } from './pipeline.js';
import type { IssuerStorage } from './storage.js';

/**
 * Where the handlers publish their metrics: Powertools Metrics in composition/aws.ts uses
 * this namespace and adds its `service` name as a dimension to every metric, so alarms must
 * name the same dimension or they watch a metric nobody writes.
 */
export const METRICS_NAMESPACE = 'certkeeper';
export const METRICS_DIMENSIONS = { service: 'certkeeper' } as const;

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

export interface IssuerMonitoringProps {
  readonly directoryUrl: string;
  readonly scheduleMinutes: number;
  /** A target still on an older serial this long after the new one was stored is behind. */
  readonly lagMinutes: number;
}

/** Made in the CertkeeperIssuer's own scope, so every logical ID is the issuer's (see storage.ts). */
export class IssuerMonitoring {
  /** CloudWatch alarm actions. */
  readonly alarmsTopic: sns.Topic;
  /** Evaluates the fleet view on every scheduler tick. */
  readonly fleet: lambda.Function;
  readonly alarms: CertkeeperAlarms;
  /** Alarm states, renewals, ARI polls, least time to expiry, queue depth. */
  readonly dashboard: cloudwatch.Dashboard;

  constructor(
    private readonly scope: Construct,
    storage: IssuerStorage,
    private readonly pipeline: IssuerPipeline,
    agents: IssuerAgents,
    fn: FunctionFactory,
    props: IssuerMonitoringProps,
  ) {
    const stack = Stack.of(scope);
    this.alarmsTopic = storage.topic('Alarms', 'certkeeper alarms');
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

    this.fleet = this.fleetFunction(storage, agents, fn, props);
    this.alarms = this.createAlarms(props.scheduleMinutes);
    this.dashboard = this.createDashboard();
  }

  /**
   * The fleet view: on the scheduler's tick, compares what each agent reported, each probed
   * endpoint serves and each ACM region holds with the current serial.
   */
  private fleetFunction(
    storage: IssuerStorage,
    agents: IssuerAgents,
    fn: FunctionFactory,
    props: IssuerMonitoringProps,
  ): lambda.Function {
    const { key, bucket, table } = storage;
    const { eventsTopic } = this.pipeline;
    const fleet = fn('fleet', {
      description:
        'certkeeper: compares what each server, endpoint and ACM region has with the current serial',
      timeout: Duration.minutes(2),
      memorySize: 256,
      // One tick at a time: each compares with the view the previous one saved.
      reservedConcurrentExecutions: 1,
      environment: {
        CERTKEEPER_TABLE: table.tableName,
        CERTKEEPER_BUCKET: bucket.bucketName,
        CERTKEEPER_TOPIC_ARN: eventsTopic.topicArn,
        CERTKEEPER_DIRECTORY_URL: props.directoryUrl,
        CERTKEEPER_FLEET_LAG_MINUTES: String(props.lagMinutes),
        CERTKEEPER_FLEET_TABLE: agents.fleetTable.tableName,
        CERTKEEPER_DELIVER_QUEUE_URL: agents.deliverQueue.queueUrl,
      },
    });
    // Registry agents' reports (Scan), their inboxes (compared with what they select; an
    // agent's that is gone is deleted), and the queue that redelivers a stale one.
    allow(fleet, ['dynamodb:Scan'], [agents.fleetTable.tableArn]);
    allow(fleet, ['dynamodb:DeleteItem'], [agents.fleetTable.tableArn], INBOX_ITEMS);
    allow(fleet, ['sqs:SendMessage'], [agents.deliverQueue.queueArn]);
    // The inventory (Scan), the agents' reports, its own status object, events.
    allow(fleet, ['dynamodb:Scan', 'dynamodb:GetItem'], [table.tableArn]);
    allow(fleet, ['kms:Decrypt', 'kms:GenerateDataKey'], [key.keyArn]);
    allow(fleet, ['sns:Publish'], [eventsTopic.topicArn]);
    allow(
      fleet,
      ['s3:GetObject'],
      [bucket.arnForObjects(`${AGENTS_PREFIX}*`), bucket.arnForObjects(FLEET_STATUS_KEY)],
    );
    allow(fleet, ['s3:PutObject'], [bucket.arnForObjects(FLEET_STATUS_KEY)]);
    // Unconditioned, as for the issuer: without it the first tick's read of the missing
    // status object answers 403 instead of 404. Listing shows key names, never contents.
    allow(fleet, ['s3:ListBucket'], [bucket.bucketArn]);
    NagSuppressions.addResourceSuppressions(
      fleet.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'The fleet Lambda reads every agent report (agents/<agent>/report.json); agent names are many and may change without a redeploy of this policy.',
          appliesTo: [`Resource::<${logicalIdOf(bucket)}.Arn>/${AGENTS_PREFIX}*`],
        },
      ],
      true,
    );
    // The fleet view is evaluated on the scheduler's tick, by its own Lambda.
    this.pipeline.scheduleRule.addTarget(new targets.LambdaFunction(fleet, { retryAttempts: 0 }));
    return fleet;
  }

  private createAlarms(scheduleMinutes: number): CertkeeperAlarms {
    const { scope, alarmsTopic, pipeline } = this;
    const alarm = (id: string, props: Omit<cloudwatch.AlarmProps, 'evaluationPeriods'>): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(scope, id, { evaluationPeriods: 1, ...props });
      created.addAlarmAction(new SnsAction(alarmsTopic));
      return created;
    };
    return {
      deadLetters: alarm('DeadLettersAlarm', {
        alarmDescription: 'certkeeper: issuer messages were dead-lettered (could not be handled 5 times)',
        metric: pipeline.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
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
        metric: pipeline.issuer.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
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
    const { pipeline } = this;
    const hourly = (metricName: string, statistic: string): cloudwatch.Metric =>
      metric(metricName, statistic, Duration.hours(1));
    const dashboard = new cloudwatch.Dashboard(this.scope, 'Dashboard', {
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
        left: [hourly('RenewalsOk', 'Sum'), hourly('RenewalsFailed', 'Sum'), hourly('AriPolls', 'Sum')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Least time to expiry (hours)',
        left: [hourly('MinHoursToExpiry', 'Minimum')],
        leftAnnotations: [{ value: 24, label: 'alarm', color: cloudwatch.Color.RED }],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Fleet: delivery targets behind, silent, unreachable, expiring',
        left: [
          hourly('TargetsBehind', 'Maximum'),
          hourly('AgentsSilent', 'Maximum'),
          hourly('TargetsUnreachable', 'Maximum'),
          hourly('TargetsExpiring', 'Maximum'),
        ],
        right: [hourly('AgentReportsIgnored', 'Sum')],
        width: 24,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Certificates failing',
        left: [hourly('CertificatesFailing', 'Maximum')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Scheduler ticks',
        left: [hourly('SchedulerTicks', 'Sum')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Issuer queue and dead letters',
        left: [
          pipeline.queue.metricApproximateNumberOfMessagesVisible(),
          pipeline.deadLetterQueue.metricApproximateNumberOfMessagesVisible(),
        ],
        right: [pipeline.issuer.metricErrors()],
        width: 8,
      }),
    );
    return dashboard;
  }
}

/** One of the handlers' metrics (METRICS_NAMESPACE, with the dimension they add). */
function metric(metricName: string, statistic: string, period: Duration): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { ...METRICS_DIMENSIONS },
    statistic,
    period,
  });
}
