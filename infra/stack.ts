import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/**
 * The certkeeper stack. The core pipeline runs against local peers; the resources
 * (bucket, table, queues, functions, schedule, topics, alarms) arrive with the
 * infrastructure issue through a reusable construct.
 */
export class CertkeeperStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    new CfnOutput(this, 'CertkeeperVersion', { value: '0.1.0', description: 'certkeeper release deployed' });
  }
}
