/**
 * What every part of CertkeeperIssuer uses to make a Lambda and grant it something: the
 * function names, one function with its own role and log group, and the grant helpers.
 */
import { type Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';

/** The Lambdas of a deployment; each is bundled to `<name>/index.mjs` exporting `handler`. */
export const FUNCTION_NAMES = [
  'scheduler',
  'issuer',
  'notifier',
  'inventory-sync',
  'fleet',
  'identity',
  'deliver',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** One Code per Lambda, e.g. `lambdaCodeFor((name) => Code.fromAsset(path.join(dir, name)))`. */
export function lambdaCodeFor(code: (name: FunctionName) => lambda.Code): Record<FunctionName, lambda.Code> {
  return Object.fromEntries(FUNCTION_NAMES.map((name) => [name, code(name)])) as Record<
    FunctionName,
    lambda.Code
  >;
}

export interface FunctionOptions {
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
  readonly reservedConcurrentExecutions?: number;
  readonly deadLetterQueue?: sqs.IQueue;
}

/** Makes one of the deployment's Lambdas (`createFunction` with the code and retention bound). */
export type FunctionFactory = (name: FunctionName, options: FunctionOptions) => lambda.Function;

/**
 * One function with its own role and log group; the role starts empty (no managed policies).
 * Created directly in `scope` (the CertkeeperIssuer), so its logical IDs are the issuer's.
 */
export function createFunction(
  scope: Construct,
  name: FunctionName,
  code: lambda.Code,
  retention: logs.RetentionDays,
  options: FunctionOptions,
): lambda.Function {
  const id = pascal(name);
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention });
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `certkeeper ${name} Lambda`,
  });
  logGroup.grantWrite(role);
  const fn = new lambda.Function(scope, id, {
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
        'Pinned to nodejs22.x on purpose: infra/bundle.ts bundles for Node 22 and the tests run on it; the runtime moves together with the build target.',
    },
  ]);
  return fn;
}

export function allow(
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
export function secretResource(arn: string): string {
  return /-[A-Za-z0-9]{6}$/.test(arn) ? arn : `${arn}-??????`;
}

/** How cdk-nag writes a resource's Fn::GetAtt in `appliesTo` (its logical ID). */
export function logicalIdOf(bucket: s3.Bucket): string {
  return Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
}

/** "inventory-sync" -> "InventorySync", for construct IDs and output names. */
export function pascal(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}
