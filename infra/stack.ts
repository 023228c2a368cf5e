import { Aspects, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../shared/config/deployment.js';
import { CertkeeperIssuer, type FunctionName } from './issuer.js';
import { LintSuppressions } from './lint-suppressions.js';

export interface CertkeeperStackProps extends StackProps {
  /** The parsed certkeeper.config.json (`parseDeploymentConfig`). */
  readonly config: DeploymentConfig;
  /** The bundled Lambdas (`Code.fromAsset` of infra/bundle.ts's output in the app). */
  readonly lambdaCode: Readonly<Record<FunctionName, lambda.Code>>;
}

/**
 * The certkeeper stack: one CertkeeperIssuer and the outputs an operator needs to wire
 * servers and alerts to it.
 */
export class CertkeeperStack extends Stack {
  readonly issuer: CertkeeperIssuer;

  constructor(scope: Construct, id: string, props: CertkeeperStackProps) {
    super(scope, id, props);
    const { config, lambdaCode } = props;
    this.issuer = new CertkeeperIssuer(this, 'Issuer', { ...config, lambdaCode });
    // checkov and cfn-lint findings accepted on purpose, with the reason on the resource.
    Aspects.of(this).add(new LintSuppressions());

    const out = (name: string, value: string, description: string): CfnOutput =>
      new CfnOutput(this, name, { value, description });
    out('CertkeeperVersion', '0.1.0', 'certkeeper release deployed');
    out('BucketName', this.issuer.bucket.bucketName, 'certificates, HTTP-01 tokens and ACME accounts');
    out('TableName', this.issuer.table.tableName, 'inventory, leases and the due index');
    out('IssuerQueueUrl', this.issuer.queue.queueUrl, 'renewal work for the issuer');
    out(
      'DeadLetterQueueUrl',
      this.issuer.deadLetterQueue.queueUrl,
      'issuer messages that failed 5 times, alerts the notifier could not deliver',
    );
    out('KeyArn', this.issuer.key.keyArn, 'KMS key of the bucket, table, queues and topics');
    out('EventsTopicArn', this.issuer.eventsTopic.topicArn, 'certificate events (issued, renewed, ...)');
    out('AlarmsTopicArn', this.issuer.alarmsTopic.topicArn, 'CloudWatch alarm notifications');
    out('NotificationsTopicArn', this.issuer.notificationsTopic.topicArn, 'alerts for people (email)');
    out('DashboardName', this.issuer.dashboard.dashboardName, 'CloudWatch dashboard');
    // The same outputs whatever the number of agents: they are data in the registry.
    for (const [name, { value, description }] of Object.entries(this.issuer.agents.outputs())) {
      out(name, value, description);
    }
  }
}
